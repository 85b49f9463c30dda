//! `jiceng.grid.v1.ProjectService`: who may post needs, offer resources, propose, answer and
//! end projects.
//!
//! The needs and resources lists are open to everyone in the district (they carry no personal
//! details; being seen is their point). A need belongs to its community's admins; a resource to
//! its unit's admins, or to the member who offered it. A project's two sides are those of its
//! need and its resource: one proposes, the other answers, either ends it.

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{FieldViolations, PageRequest, status::invalid_field};
use jiceng_proto::grid::{self as pb, project_service_server::ProjectService};
use jiceng_values::{RequestId, Text};
use tonic::{Request, Response, Status};

use super::{GridApi, time_cursor, time_cursor_of};
use crate::{
    domain::project::{
        NeedState, Project, ProjectAction, ProjectState, Provider, ResourceState, Side,
    },
    proto::{
        from_proto,
        projects::{
            NEED_STATES, PROJECT_STATES, RESOURCE_STATES, need_to_proto, project_to_proto,
            resource_to_proto,
        },
    },
    store::projects::{ListFilter, NewNeed, NewResource},
};

/// A state filter: unset is every state, an unknown value is refused.
fn state_filter<P: Copy + Into<i32>, D: Copy>(
    table: &[(P, D)],
    value: i32,
    name: impl Fn(D) -> &'static str,
) -> Result<Option<&'static str>, Status> {
    if value == 0 {
        return Ok(None);
    }
    from_proto(table, value)
        .map(|state| Some(name(state)))
        .ok_or_else(|| invalid_field("state", "is unknown"))
}

/// Title, description and category, as every list item has them.
fn item_text(
    violations: &mut FieldViolations,
    title: &str,
    description: &str,
    category: &str,
) -> (Option<String>, String, Option<String>) {
    let title = violations.check("title", Text::label(100).check(title));
    let description = violations
        .check("description", Text::prose(2_000).check(description))
        .unwrap_or_default();
    let category = violations.check("category", Text::label(20).check(category));
    (title, description, category)
}

fn outcome(violations: &mut FieldViolations, field: &str, given: &str) -> String {
    let text = violations
        .check(field, Text::prose(2_000).check(given))
        .unwrap_or_default();
    if text.is_empty() {
        violations.add(field, "is required");
    }
    text
}

/// What a list request names: its page and, for the page token, what it asked for.
struct ListRequest<'a> {
    page_size: Option<i32>,
    page_token: &'a str,
    query: String,
}

impl GridApi {
    /// One page of a list in `created_at DESC, id DESC` order, read by `load` with `filter`
    /// and the page position; returns the items and the next page's token.
    async fn page_of<T>(
        &self,
        request: ListRequest<'_>,
        filter: ListFilter,
        load: impl AsyncFnOnce(
            ListFilter,
            Option<(i64, String)>,
            i64,
        ) -> Result<Vec<T>, crate::store::StoreError>,
        position: impl Fn(&T) -> (i64, &str),
    ) -> Result<(Vec<T>, String), Status> {
        let page = PageRequest::parse(request.page_size, request.page_token, request.query)?;
        let after = page.after.as_deref().map(time_cursor).transpose()?;
        let mut items = load(filter, after, page.fetch_limit()).await?;
        let next = page.finish(&mut items, |item| {
            let (created_at, id) = position(item);
            time_cursor_of(created_at, id)
        });
        Ok((items, next))
    }

    /// Whether the caller speaks for the resource's provider: the member themself, or an admin
    /// over the providing unit.
    async fn provides(&self, caller: &Caller, provider: &Provider) -> bool {
        match provider {
            Provider::Member(member) => caller.subject == *member,
            Provider::Org(org) => self.require_admin_of(caller, org).await.is_ok(),
        }
    }

    /// The org path of the subtree a public list names.
    async fn subtree_to_list(&self, org_id: &str) -> Result<String, Status> {
        if org_id.is_empty() {
            return Err(invalid_field("org_id", "name the org subtree to list"));
        }
        self.subtree_path(org_id).await
    }

    /// Whether the caller speaks for the need's community.
    async fn needs(&self, caller: &Caller, org_id: &str) -> bool {
        self.require_admin_of(caller, org_id).await.is_ok()
    }

    /// A project the caller is a side of, or reads the need's org of; NOT_FOUND for others.
    async fn visible_project(&self, caller: &Caller, id: &str) -> Result<Project, Status> {
        let project = self.store.project(id).await?;
        if self.provides(caller, &project.provider).await
            || self
                .require_reader_of(caller, &project.org_id)
                .await
                .is_ok()
        {
            Ok(project)
        } else {
            Err(Status::not_found(format!("project {id} not found")))
        }
    }

    /// Takes `action` on a project, when the caller may: an answer comes from the side that did
    /// not propose, an end from either side.
    async fn act_on_project(
        &self,
        caller: &Caller,
        id: &str,
        request_id: &str,
        action: ProjectAction,
        text: String,
    ) -> Result<Response<pb::Project>, Status> {
        let request_id =
            RequestId::parse_optional(request_id).map_err(|e| invalid_field("request_id", e))?;
        let project = self.visible_project(caller, id).await?;
        let need_side = self.needs(caller, &project.org_id).await;
        let resource_side = self.provides(caller, &project.provider).await;
        let allowed = match action {
            ProjectAction::Accept | ProjectAction::Decline => match project.proposed_by_side {
                Side::Need => resource_side,
                Side::Resource => need_side,
            },
            ProjectAction::Complete | ProjectAction::Cancel => need_side || resource_side,
        };
        if !allowed {
            return Err(Status::permission_denied(match action {
                ProjectAction::Accept | ProjectAction::Decline => {
                    "the side that did not propose a project answers it"
                }
                _ => "the need's community or the resource's provider ends a project",
            }));
        }
        let project = self
            .store
            .act_on_project(
                id,
                &caller.subject,
                request_id.as_ref().map(RequestId::as_str),
                action,
                &text,
                self.store.now(),
            )
            .await?;
        Ok(Response::new(project_to_proto(&project)))
    }
}

#[tonic::async_trait]
impl ProjectService for GridApi {
    async fn post_need(
        &self,
        request: Request<pb::PostNeedRequest>,
    ) -> Result<Response<pb::Need>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let (title, description, category) =
            item_text(&mut violations, &req.title, &req.description, &req.category);
        if req.org_id.is_empty() {
            violations.add("org_id", "must name the community in need");
        }
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(title), Some(category)) = (title, category) else {
            return Err(Status::internal("validation fell through"));
        };
        self.require_admin_of(&caller, &req.org_id).await?;
        let (actor, request_id) = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let new = NewNeed {
            org_path: self.path_of(&req.org_id).await?,
            org_id: req.org_id,
            title,
            description,
            category,
        };
        let now = self.store.now();
        let need = self
            .org
            .write_at_path(
                new,
                |new| &mut new.org_path,
                |new| async move { self.store.post_need(actor, request_id, &new, now).await },
            )
            .await??;
        Ok(Response::new(need_to_proto(&need)))
    }

    async fn get_need(
        &self,
        request: Request<pb::GetNeedRequest>,
    ) -> Result<Response<pb::Need>, Status> {
        caller(&request)?;
        let need = self.store.need(&request.get_ref().id).await?;
        Ok(Response::new(need_to_proto(&need)))
    }

    async fn list_needs(
        &self,
        request: Request<pb::ListNeedsRequest>,
    ) -> Result<Response<pb::ListNeedsResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let filter = ListFilter {
            subtree: Some(self.subtree_to_list(&req.org_id).await?),
            state: state_filter(NEED_STATES, req.state, NeedState::as_str)?,
            ..ListFilter::default()
        };
        let list = ListRequest {
            page_size: req.page_size,
            page_token: &req.page_token,
            query: format!("needs|{}|{}", req.org_id, req.state),
        };
        let (needs, next_page_token) = self
            .page_of(
                list,
                filter,
                async |f, after, limit| self.store.list_needs(&f, after, limit).await,
                |n| (n.created_at, n.id.as_str()),
            )
            .await?;
        Ok(Response::new(pb::ListNeedsResponse {
            needs: needs.iter().map(need_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn withdraw_need(
        &self,
        request: Request<pb::WithdrawNeedRequest>,
    ) -> Result<Response<pb::Need>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let expected = jiceng_grpc::version_in("etag", &req.etag)?;
        let request_id = RequestId::parse_optional(&req.request_id)
            .map_err(|e| invalid_field("request_id", e))?;
        let need = self.store.need(&req.need_id).await?;
        self.require_admin_of(&caller, &need.org_id).await?;
        let by = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let need = self.store.withdraw_need(&need.id, expected, by).await?;
        Ok(Response::new(need_to_proto(&need)))
    }

    async fn offer_resource(
        &self,
        request: Request<pb::OfferResourceRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let (title, description, category) =
            item_text(&mut violations, &req.title, &req.description, &req.category);
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let (Some(title), Some(category)) = (title, category) else {
            return Err(Status::internal("validation fell through"));
        };
        let (provider, org_id) = if req.provider_org_id.is_empty() {
            caller.require_any(&[Role::Member])?;
            (
                Provider::Member(caller.subject.clone()),
                caller.scope_org.clone(),
            )
        } else {
            self.require_admin_of(&caller, &req.provider_org_id).await?;
            (
                Provider::Org(req.provider_org_id.clone()),
                req.provider_org_id,
            )
        };
        let (actor, request_id) = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let new = NewResource {
            provider,
            org_path: self.path_of(&org_id).await?,
            org_id,
            title,
            description,
            category,
        };
        let now = self.store.now();
        let resource = self
            .org
            .write_at_path(
                new,
                |new| &mut new.org_path,
                |new| async move {
                    self.store
                        .offer_resource(actor, request_id, &new, now)
                        .await
                },
            )
            .await??;
        Ok(Response::new(resource_to_proto(&resource)))
    }

    async fn get_resource(
        &self,
        request: Request<pb::GetResourceRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        caller(&request)?;
        let resource = self.store.resource(&request.get_ref().id).await?;
        Ok(Response::new(resource_to_proto(&resource)))
    }

    async fn list_resources(
        &self,
        request: Request<pb::ListResourcesRequest>,
    ) -> Result<Response<pb::ListResourcesResponse>, Status> {
        caller(&request)?;
        let req = request.into_inner();
        let filter = ListFilter {
            subtree: Some(self.subtree_to_list(&req.org_id).await?),
            state: state_filter(RESOURCE_STATES, req.state, ResourceState::as_str)?,
            ..ListFilter::default()
        };
        let list = ListRequest {
            page_size: req.page_size,
            page_token: &req.page_token,
            query: format!("resources|{}|{}", req.org_id, req.state),
        };
        let (resources, next_page_token) = self
            .page_of(
                list,
                filter,
                async |f, after, limit| self.store.list_resources(&f, after, limit).await,
                |r| (r.created_at, r.id.as_str()),
            )
            .await?;
        Ok(Response::new(pb::ListResourcesResponse {
            resources: resources.iter().map(resource_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn withdraw_resource(
        &self,
        request: Request<pb::WithdrawResourceRequest>,
    ) -> Result<Response<pb::Resource>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let expected = jiceng_grpc::version_in("etag", &req.etag)?;
        let request_id = RequestId::parse_optional(&req.request_id)
            .map_err(|e| invalid_field("request_id", e))?;
        let resource = self.store.resource(&req.resource_id).await?;
        if !self.provides(&caller, &resource.provider).await {
            return Err(Status::permission_denied(
                "the provider withdraws a resource",
            ));
        }
        let by = (
            caller.subject.as_str(),
            request_id.as_ref().map(RequestId::as_str),
        );
        let resource = self
            .store
            .withdraw_resource(&resource.id, expected, by)
            .await?;
        Ok(Response::new(resource_to_proto(&resource)))
    }

    async fn propose_project(
        &self,
        request: Request<pb::ProposeProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        if req.need_id.is_empty() {
            violations.add("need_id", "must name the need");
        }
        if req.resource_id.is_empty() {
            violations.add("resource_id", "must name the resource");
        }
        let title = if req.title.is_empty() {
            String::new()
        } else {
            violations
                .check("title", Text::label(100).check(&req.title))
                .unwrap_or_default()
        };
        let note = violations
            .check("note", Text::prose(1_000).check(&req.note))
            .unwrap_or_default();
        let request_id = violations
            .check("request_id", RequestId::parse_optional(&req.request_id))
            .flatten();
        violations.into_result()?;
        let need = self.store.need(&req.need_id).await?;
        let resource = self.store.resource(&req.resource_id).await?;
        // The community claims a resource for its need, or the provider claims a need.
        let side = if self.needs(&caller, &need.org_id).await {
            Side::Need
        } else if self.provides(&caller, &resource.provider).await {
            Side::Resource
        } else {
            return Err(Status::permission_denied(
                "the need's community or the resource's provider proposes a project",
            ));
        };
        let project = self
            .store
            .propose_project(
                (
                    caller.subject.as_str(),
                    request_id.as_ref().map(RequestId::as_str),
                ),
                side,
                &need.id,
                &resource.id,
                &title,
                &note,
                self.store.now(),
            )
            .await?;
        Ok(Response::new(project_to_proto(&project)))
    }

    async fn accept_project(
        &self,
        request: Request<pb::AcceptProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        self.act_on_project(
            &caller,
            &req.project_id,
            &req.request_id,
            ProjectAction::Accept,
            String::new(),
        )
        .await
    }

    async fn decline_project(
        &self,
        request: Request<pb::DeclineProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let reason = outcome(&mut violations, "reason", &req.reason);
        violations.into_result()?;
        self.act_on_project(
            &caller,
            &req.project_id,
            &req.request_id,
            ProjectAction::Decline,
            reason,
        )
        .await
    }

    async fn complete_project(
        &self,
        request: Request<pb::CompleteProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let text = outcome(&mut violations, "outcome", &req.outcome);
        violations.into_result()?;
        self.act_on_project(
            &caller,
            &req.project_id,
            &req.request_id,
            ProjectAction::Complete,
            text,
        )
        .await
    }

    async fn cancel_project(
        &self,
        request: Request<pb::CancelProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let reason = outcome(&mut violations, "reason", &req.reason);
        violations.into_result()?;
        self.act_on_project(
            &caller,
            &req.project_id,
            &req.request_id,
            ProjectAction::Cancel,
            reason,
        )
        .await
    }

    async fn get_project(
        &self,
        request: Request<pb::GetProjectRequest>,
    ) -> Result<Response<pb::Project>, Status> {
        let caller = caller(&request)?.clone();
        let project = self.visible_project(&caller, &request.get_ref().id).await?;
        Ok(Response::new(project_to_proto(&project)))
    }

    async fn list_projects(
        &self,
        request: Request<pb::ListProjectsRequest>,
    ) -> Result<Response<pb::ListProjectsResponse>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        if req.org_id.is_empty() != req.mine {
            return Err(invalid_field(
                "org_id",
                "list by exactly one of an org subtree or your own projects",
            ));
        }
        let mut filter = ListFilter {
            state: state_filter(PROJECT_STATES, req.state, ProjectState::as_str)?,
            ..ListFilter::default()
        };
        if req.mine {
            filter.provider_member = Some(caller.subject.clone());
        } else {
            self.require_reader_of(&caller, &req.org_id).await?;
            filter.subtree = Some(self.subtree_path(&req.org_id).await?);
        }
        let list = ListRequest {
            page_size: req.page_size,
            page_token: &req.page_token,
            query: format!("projects|{}|{}|{}", req.org_id, req.mine, req.state),
        };
        let (projects, next_page_token) = self
            .page_of(
                list,
                filter,
                async |f, after, limit| self.store.list_projects(&f, after, limit).await,
                |p| (p.created_at, p.id.as_str()),
            )
            .await?;
        Ok(Response::new(pb::ListProjectsResponse {
            projects: projects.iter().map(project_to_proto).collect(),
            next_page_token,
        }))
    }
}
