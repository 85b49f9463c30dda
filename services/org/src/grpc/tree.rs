//! `jiceng.org.v1.OrgService`: the tree.

use jiceng_auth::{Role, caller};
use jiceng_grpc::{FieldViolations, PageRequest, status::invalid_field};
use jiceng_proto::org::{self as pb, org_service_server::OrgService};
use tonic::{Request, Response, Status};

use super::{
    ADMINS, changeable_unit, mutation, require_whole_district_admin, scope_unit, visible_unit,
};
use crate::proto::{
    kind_from_proto, kinds_from_proto,
    tree::{audit_to_proto, rule_to_proto},
    unit_to_proto,
};
use crate::{
    domain::{KindRule, NameQuery, RequestId, Unit, UnitCode, UnitId, UnitName},
    store::{OrgStore, SubtreeFilter, UnitChanges},
};

/// The `jiceng.org.v1.OrgService` implementation.
#[derive(Clone, Debug)]
pub struct OrgApi {
    store: OrgStore,
}

impl OrgApi {
    pub fn new(store: OrgStore) -> Self {
        Self { store }
    }
}

/// Cuts units fetched in path order to the page; the next page starts after the last path.
fn page_in_path_order(page: &PageRequest, mut units: Vec<Unit>) -> (Vec<pb::Unit>, String) {
    let next_page_token = page.finish(&mut units, |u| u.path.clone());
    (units.iter().map(unit_to_proto).collect(), next_page_token)
}

#[tonic::async_trait]
impl OrgService for OrgApi {
    async fn create_unit(
        &self,
        request: Request<pb::CreateUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let parent_id = violations.check("parent_id", UnitId::parse(&req.parent_id));
        let kind = violations.check("kind", kind_from_proto(req.kind));
        let name = violations.check("name", UnitName::parse(&req.name));
        let code = violations.check("code", UnitCode::parse_optional(&req.code));
        let request_id = violations.check("request_id", RequestId::parse_optional(&req.request_id));
        violations.into_result()?;
        let (Some(parent_id), Some(kind), Some(name), Some(code), Some(request_id)) =
            (parent_id, kind, name, code, request_id)
        else {
            return Err(Status::internal("validation fell through"));
        };
        visible_unit(&self.store, &caller, &parent_id).await?;
        let unit = self
            .store
            .create(
                &mutation(&caller, request_id),
                &parent_id,
                kind,
                &name,
                code.as_ref(),
            )
            .await?;
        Ok(Response::new(unit_to_proto(&unit)))
    }

    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let caller = caller(&request)?;
        let id = UnitId::parse(&request.get_ref().id).map_err(|e| invalid_field("id", e))?;
        let unit = visible_unit(&self.store, caller, &id).await?;
        Ok(Response::new(unit_to_proto(&unit)))
    }

    async fn update_unit(
        &self,
        request: Request<pb::UpdateUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", UnitId::parse(&req.id));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        let fields = req.unit.unwrap_or_default();
        let paths: Vec<String> = match req.update_mask {
            Some(mask) if !mask.paths.is_empty() => mask.paths,
            // AIP-134: without a mask, every mutable field is replaced.
            _ => vec!["name".into(), "code".into()],
        };
        let mut changes = UnitChanges::default();
        for path in &paths {
            match path.as_str() {
                "name" => {
                    changes.name = violations.check("unit.name", UnitName::parse(&fields.name))
                }
                "code" => {
                    changes.code =
                        violations.check("unit.code", UnitCode::parse_optional(&fields.code))
                }
                other => violations.add(
                    "update_mask",
                    format!("{other:?} cannot be updated; use name or code"),
                ),
            }
        }
        violations.into_result()?;
        let Some(id) = id else {
            return Err(Status::internal("validation fell through"));
        };
        visible_unit(&self.store, &caller, &id).await?;
        let unit = self
            .store
            .update(
                &mutation(&caller, request_id),
                &id,
                jiceng_grpc::version_in("etag", &req.etag)?,
                &changes,
            )
            .await?;
        Ok(Response::new(unit_to_proto(&unit)))
    }

    async fn move_unit(
        &self,
        request: Request<pb::MoveUnitRequest>,
    ) -> Result<Response<pb::Unit>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", UnitId::parse(&req.id));
        let new_parent_id = violations.check("new_parent_id", UnitId::parse(&req.new_parent_id));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(id), Some(new_parent_id)) = (id, new_parent_id) else {
            return Err(Status::internal("validation fell through"));
        };
        changeable_unit(&self.store, &caller, &id).await?;
        visible_unit(&self.store, &caller, &new_parent_id).await?;
        let unit = self
            .store
            .move_unit(
                &mutation(&caller, request_id),
                &id,
                &new_parent_id,
                jiceng_grpc::version_in("etag", &req.etag)?,
            )
            .await?;
        Ok(Response::new(unit_to_proto(&unit)))
    }

    async fn dissolve_unit(
        &self,
        request: Request<pb::DissolveUnitRequest>,
    ) -> Result<Response<pb::DissolveUnitResponse>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(ADMINS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("id", UnitId::parse(&req.id));
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let Some(id) = id else {
            return Err(Status::internal("validation fell through"));
        };
        changeable_unit(&self.store, &caller, &id).await?;
        let (unit, dissolved) = self
            .store
            .dissolve(
                &mutation(&caller, request_id),
                &id,
                req.cascade,
                jiceng_grpc::version_in("etag", &req.etag)?,
            )
            .await?;
        Ok(Response::new(pb::DissolveUnitResponse {
            unit: Some(unit_to_proto(&unit)),
            dissolved_count: i32::try_from(dissolved).unwrap_or(i32::MAX),
        }))
    }

    async fn list_children(
        &self,
        request: Request<pb::ListChildrenRequest>,
    ) -> Result<Response<pb::ListChildrenResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let parent_id = UnitId::parse(&req.parent_id).map_err(|e| invalid_field("parent_id", e))?;
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!("children|{parent_id}|{}", req.include_dissolved),
        )?;
        let parent = visible_unit(&self.store, caller, &parent_id).await?;
        let after = page
            .after
            .as_deref()
            .map(|cursor| cursor.split_once('\u{1f}').unwrap_or((cursor, "")));
        let mut units = self
            .store
            .children(&parent, req.include_dissolved, after, page.fetch_limit())
            .await?;
        let next_page_token =
            page.finish(&mut units, |u| format!("{}\u{1f}{}", u.name.as_str(), u.id));
        Ok(Response::new(pb::ListChildrenResponse {
            units: units.iter().map(unit_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn list_subtree(
        &self,
        request: Request<pb::ListSubtreeRequest>,
    ) -> Result<Response<pb::ListSubtreeResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let mut violations = FieldViolations::new();
        let root_id = violations.check("root_id", UnitId::parse(&req.root_id));
        let kinds = violations.check("kinds", kinds_from_proto(&req.kinds));
        if req.max_depth < 0 {
            violations.add("max_depth", "must not be negative");
        }
        violations.into_result()?;
        let (Some(root_id), Some(kinds)) = (root_id, kinds) else {
            return Err(Status::internal("validation fell through"));
        };
        let filter = SubtreeFilter {
            max_depth: (req.max_depth > 0).then_some(i64::from(req.max_depth)),
            kinds,
            include_dissolved: req.include_dissolved,
        };
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!("subtree|{root_id}|{filter:?}"),
        )?;
        let root = visible_unit(&self.store, caller, &root_id).await?;
        let units = self
            .store
            .subtree(&root, &filter, page.after.as_deref(), page.fetch_limit())
            .await?;
        let (units, next_page_token) = page_in_path_order(&page, units);
        Ok(Response::new(pb::ListSubtreeResponse {
            units,
            next_page_token,
        }))
    }

    async fn get_ancestry(
        &self,
        request: Request<pb::GetAncestryRequest>,
    ) -> Result<Response<pb::GetAncestryResponse>, Status> {
        let caller = caller(&request)?;
        let id = UnitId::parse(&request.get_ref().id).map_err(|e| invalid_field("id", e))?;
        let unit = visible_unit(&self.store, caller, &id).await?;
        let units = self.store.ancestry(&unit).await?;
        Ok(Response::new(pb::GetAncestryResponse {
            units: units.iter().map(unit_to_proto).collect(),
        }))
    }

    async fn search_units(
        &self,
        request: Request<pb::SearchUnitsRequest>,
    ) -> Result<Response<pb::SearchUnitsResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let mut violations = FieldViolations::new();
        let query = violations.check("query", NameQuery::parse(&req.query));
        let kinds = violations.check("kinds", kinds_from_proto(&req.kinds));
        violations.into_result()?;
        let (Some(query), Some(kinds)) = (query, kinds) else {
            return Err(Status::internal("validation fell through"));
        };
        let filter = SubtreeFilter {
            max_depth: None,
            kinds,
            include_dissolved: req.include_dissolved,
        };
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!("search|{}|{}|{filter:?}", caller.scope_org, query.as_str()),
        )?;
        let scope = scope_unit(&self.store, caller).await?;
        let units = self
            .store
            .search(
                &scope,
                &query,
                &filter,
                page.after.as_deref(),
                page.fetch_limit(),
            )
            .await?;
        let (units, next_page_token) = page_in_path_order(&page, units);
        Ok(Response::new(pb::SearchUnitsResponse {
            units,
            next_page_token,
        }))
    }

    async fn check_scope(
        &self,
        request: Request<pb::CheckScopeRequest>,
    ) -> Result<Response<pb::CheckScopeResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        let org_id = UnitId::parse(&req.org_id).map_err(|e| invalid_field("org_id", e))?;
        let scope = if req.scope_org_id.is_empty() {
            caller.scope_org.clone()
        } else {
            req.scope_org_id.clone()
        };
        // Only services may ask about scopes other than their own.
        if scope != caller.scope_org && !caller.has(Role::Service) {
            return Err(Status::permission_denied(
                "only services may check another caller's scope",
            ));
        }
        let (unit, tree_generation) = self.store.get_with_generation(&org_id).await?;
        // The platform's own services ask with no scope of theirs: the whole district.
        let within = unit.is_within(&scope) || (scope.is_empty() && caller.is_platform());
        let ancestor_ids = if within || caller.has(Role::Service) {
            unit.ancestor_ids()
        } else {
            Vec::new()
        };
        Ok(Response::new(pb::CheckScopeResponse {
            within,
            ancestor_ids,
            tree_generation,
        }))
    }

    async fn get_tree_generation(
        &self,
        request: Request<pb::GetTreeGenerationRequest>,
    ) -> Result<Response<pb::TreeGeneration>, Status> {
        caller(&request)?.require_any(&[Role::Service])?;
        let generations = self.store.generations().await?;
        Ok(Response::new(pb::TreeGeneration {
            generation: generations.generation,
            paths_generation: generations.paths_generation,
        }))
    }

    async fn list_kind_rules(
        &self,
        request: Request<pb::ListKindRulesRequest>,
    ) -> Result<Response<pb::ListKindRulesResponse>, Status> {
        caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            "kind-rules".to_owned(),
        )?;
        let schema = self.store.kind_schema().await?;
        let (rules, next_page_token) = page.page_of(schema.rules().to_vec(), |rule| {
            format!("{:?}>{:?}", rule.parent, rule.child)
        });
        Ok(Response::new(pb::ListKindRulesResponse {
            rules: rules.iter().map(rule_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn add_kind_rule(
        &self,
        request: Request<pb::AddKindRuleRequest>,
    ) -> Result<Response<pb::KindRule>, Status> {
        let caller = caller(&request)?.clone();
        require_whole_district_admin(&self.store, &caller).await?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let parent = violations.check("parent_kind", kind_from_proto(req.parent_kind));
        let child = violations.check("child_kind", kind_from_proto(req.child_kind));
        if let Some(child) = child.filter(|c| c.can_be_root()) {
            violations.add(
                "child_kind",
                format!("a {} can only be a tree's root", child.as_str()),
            );
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(parent), Some(child)) = (parent, child) else {
            return Err(Status::internal("validation fell through"));
        };
        self.store
            .add_kind_rule(&mutation(&caller, request_id), parent, child)
            .await?;
        let rule = KindRule {
            parent,
            child,
            district_extension: !crate::domain::is_default_rule(parent, child),
        };
        Ok(Response::new(rule_to_proto(&rule)))
    }

    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> Result<Response<pb::ListAuditRecordsResponse>, Status> {
        let caller = caller(&request)?;
        require_whole_district_admin(&self.store, caller).await?;
        let req = request.get_ref();
        let target = if req.target_id.is_empty() {
            None
        } else {
            Some(UnitId::parse(&req.target_id).map_err(|e| invalid_field("target_id", e))?)
        };
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!("audit|{}", req.target_id),
        )?;
        let mut records = self
            .store
            .audit_records(
                target.as_ref().map(UnitId::as_str),
                page.after.as_deref(),
                page.fetch_limit(),
            )
            .await?;
        let next_page_token = page.finish(&mut records, |r| r.id.clone());
        Ok(Response::new(pb::ListAuditRecordsResponse {
            records: records.iter().map(audit_to_proto).collect(),
            next_page_token,
        }))
    }
}
