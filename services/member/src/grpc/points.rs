//! `jiceng.member.v1.PointsService`: who may define rules, award, decide, correct, redeem and read.

use jiceng_auth::{Caller, Role, caller};
use jiceng_grpc::{FieldViolations, PageRequest, millis_of, status::invalid_field};
use jiceng_proto::member::{self as pb, points_service_server::PointsService};
use jiceng_values::Text;
use tonic::{Request, Response, Status};

use super::MemberApi;
use crate::{
    domain::points::{PointsRule, entry_id, periods, rule_code},
    proto::{entry_to_proto, rule_to_proto, standing_to_proto},
    store::ledger::{ImportedEntry, NewEntry},
};

/// Entries one `ImportPoints` call may carry: one transaction of a bounded size.
const MAX_IMPORTED_PER_CALL: usize = 1_000;

/// Who may award points: admins within scope, and services acting on events.
const AWARDERS: &[Role] = &[
    Role::DistrictAdmin,
    Role::StreetAdmin,
    Role::BranchAdmin,
    Role::Service,
];

fn cap(value: i64) -> Option<i64> {
    (value > 0).then_some(value)
}

/// Free text of an entry: reason or evidence reference, one line of at most 500 characters.
fn text(violations: &mut FieldViolations, field: &str, value: &str) -> String {
    violations
        .check(field, Text::optional_label(500).check(value))
        .unwrap_or_default()
}

impl MemberApi {
    /// Admins (and services) whose scope covers the member's org.
    async fn require_admin_of(&self, caller: &Caller, member_id: &str) -> Result<(), Status> {
        let member = self.store.get(member_id).await?;
        if self.administers(caller, &member).await {
            Ok(())
        } else {
            Err(Status::permission_denied(
                "only admins of the member's org do this",
            ))
        }
    }

    /// The member themself, or an admin of their org.
    async fn require_self_or_admin(&self, caller: &Caller, member_id: &str) -> Result<(), Status> {
        self.readable(caller, member_id).await.map(drop)
    }
}

#[tonic::async_trait]
impl PointsService for MemberApi {
    async fn define_points_rule(
        &self,
        request: Request<pb::DefinePointsRuleRequest>,
    ) -> Result<Response<pb::PointsRule>, Status> {
        self.org
            .scopes()
            .require_whole_district(caller(&request)?, &[Role::DistrictAdmin])
            .await?;
        let given = request.into_inner().rule.unwrap_or_default();
        let mut violations = FieldViolations::new();
        let code = violations.check("rule.code", rule_code(&given.code));
        let name = text(&mut violations, "rule.name", &given.name);
        if name.is_empty() {
            violations.add("rule.name", "must not be empty");
        }
        if given.points == 0 || given.points.abs() > 10_000 {
            violations.add(
                "rule.points",
                "must be non-zero and at most 10,000 either way",
            );
        }
        for (field, value) in [
            ("rule.daily_cap", given.daily_cap),
            ("rule.monthly_cap", given.monthly_cap),
            ("rule.yearly_cap", given.yearly_cap),
        ] {
            if value < 0 {
                violations.add(field, "must not be negative (0 means no cap)");
            }
        }
        let valid_from = violations
            .check("rule.valid_from", millis_of(given.valid_from.as_ref()))
            .flatten()
            .unwrap_or_else(|| self.store.now());
        let valid_to = violations
            .check("rule.valid_to", millis_of(given.valid_to.as_ref()))
            .flatten();
        if valid_to.is_some_and(|to| to <= valid_from) {
            violations.add("rule.valid_to", "must be after valid_from");
        }
        violations.into_result()?;
        let Some(code) = code else {
            return Err(Status::internal("validation fell through"));
        };
        let rule = PointsRule {
            code,
            version: 0,
            name,
            points: given.points,
            evidence_required: given.evidence_required,
            approval_required: given.approval_required,
            daily_cap: cap(given.daily_cap),
            monthly_cap: cap(given.monthly_cap),
            yearly_cap: cap(given.yearly_cap),
            valid_from,
            valid_to,
        };
        let rule = self.store.define_rule(&rule).await?;
        Ok(Response::new(rule_to_proto(&rule)))
    }

    async fn list_points_rules(
        &self,
        request: Request<pb::ListPointsRulesRequest>,
    ) -> Result<Response<pb::ListPointsRulesResponse>, Status> {
        caller(&request)?;
        let req = request.get_ref();
        let page = PageRequest::parse_whole_by_default(
            req.page_size,
            &req.page_token,
            "points-rules".to_owned(),
        )?;
        let rules = self.store.rules().await?;
        let (rules, next_page_token) = page.page_of(rules, |r| r.code.to_string());
        Ok(Response::new(pb::ListPointsRulesResponse {
            rules: rules.iter().map(rule_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn award_points(
        &self,
        request: Request<pb::AwardPointsRequest>,
    ) -> Result<Response<pb::LedgerEntry>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(AWARDERS)?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("entry_id", entry_id(&req.entry_id));
        let code = violations.check("rule_code", rule_code(&req.rule_code));
        let reason = text(&mut violations, "reason", &req.reason);
        let evidence = text(&mut violations, "evidence", &req.evidence);
        let source = text(&mut violations, "source_event_id", &req.source_event_id);
        violations.into_result()?;
        let (Some(id), Some(code)) = (id, code) else {
            return Err(Status::internal("validation fell through"));
        };
        self.require_admin_of(&caller, &req.member_id).await?;
        let new = NewEntry {
            id,
            member_id: req.member_id,
            reason,
            evidence,
            source_event_id: source,
            actor: caller.subject.clone(),
        };
        let entry = self.store.award(&new, &code, self.store.now()).await?;
        Ok(Response::new(entry_to_proto(&entry)))
    }

    async fn decide_entry(
        &self,
        request: Request<pb::DecideEntryRequest>,
    ) -> Result<Response<pb::LedgerEntry>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(&[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin])?;
        let req = request.into_inner();
        let entry = self.store.entry(&req.entry_id).await?;
        self.require_admin_of(&caller, &entry.member_id).await?;
        let entry = self
            .store
            .decide(&req.entry_id, req.approve, self.store.now())
            .await?;
        Ok(Response::new(entry_to_proto(&entry)))
    }

    async fn reverse_entry(
        &self,
        request: Request<pb::ReverseEntryRequest>,
    ) -> Result<Response<pb::LedgerEntry>, Status> {
        let caller = caller(&request)?.clone();
        caller.require_any(&[Role::DistrictAdmin, Role::StreetAdmin, Role::BranchAdmin])?;
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("entry_id", entry_id(&req.entry_id));
        let reason = text(&mut violations, "reason", &req.reason);
        if reason.is_empty() {
            violations.add("reason", "a correction says why");
        }
        violations.into_result()?;
        let Some(id) = id else {
            return Err(Status::internal("validation fell through"));
        };
        let target = self.store.entry(&req.reverses_entry_id).await?;
        self.require_admin_of(&caller, &target.member_id).await?;
        let new = NewEntry {
            id,
            member_id: target.member_id.clone(),
            reason,
            evidence: String::new(),
            source_event_id: String::new(),
            actor: caller.subject.clone(),
        };
        let entry = self
            .store
            .reverse(&new, &target.id, self.store.now())
            .await?;
        Ok(Response::new(entry_to_proto(&entry)))
    }

    async fn redeem_points(
        &self,
        request: Request<pb::RedeemPointsRequest>,
    ) -> Result<Response<pb::LedgerEntry>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = violations.check("entry_id", entry_id(&req.entry_id));
        if !(1..=100_000).contains(&req.points) {
            violations.add("points", "must be 1 to 100,000");
        }
        let reason = text(&mut violations, "reason", &req.reason);
        violations.into_result()?;
        let Some(id) = id else {
            return Err(Status::internal("validation fell through"));
        };
        self.acts_for(&caller, &req.member_id).await?;
        let new = NewEntry {
            id,
            member_id: req.member_id,
            reason,
            evidence: String::new(),
            source_event_id: String::new(),
            actor: caller.subject.clone(),
        };
        let entry = self
            .store
            .redeem(&new, req.points, self.store.now())
            .await?;
        Ok(Response::new(entry_to_proto(&entry)))
    }

    async fn get_balance(
        &self,
        request: Request<pb::GetBalanceRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        self.require_self_or_admin(caller, &req.member_id).await?;
        let year = if req.year == 0 {
            periods(self.store.now()).0
        } else {
            i64::from(req.year)
        };
        let (balance, pending) = self.store.balance(&req.member_id, year).await?;
        Ok(Response::new(pb::Balance {
            member_id: req.member_id.clone(),
            year: i32::try_from(year).unwrap_or_default(),
            balance,
            pending,
        }))
    }

    async fn list_ledger(
        &self,
        request: Request<pb::ListLedgerRequest>,
    ) -> Result<Response<pb::ListLedgerResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.get_ref();
        self.require_self_or_admin(caller, &req.member_id).await?;
        let page = PageRequest::parse(
            req.page_size,
            &req.page_token,
            format!("ledger|{}", req.member_id),
        )?;
        let before = match page.after.as_deref() {
            None => None,
            Some(cursor) => {
                let (at, id) = cursor.split_once('|').ok_or_else(|| {
                    invalid_field("page_token", "is not a token this list issued")
                })?;
                Some((
                    at.parse::<i64>().map_err(|_| {
                        invalid_field("page_token", "is not a token this list issued")
                    })?,
                    id.to_owned(),
                ))
            }
        };
        let mut entries = self
            .store
            .ledger(
                &req.member_id,
                before.as_ref().map(|(at, id)| (*at, id.as_str())),
                page.fetch_limit(),
            )
            .await?;
        let next_page_token = page.finish(&mut entries, |e| format!("{}|{}", e.created_at, e.id));
        Ok(Response::new(pb::ListLedgerResponse {
            entries: entries.iter().map(entry_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn get_leaderboard(
        &self,
        request: Request<pb::GetLeaderboardRequest>,
    ) -> Result<Response<pb::Leaderboard>, Status> {
        let caller = caller(&request)?.clone();
        let req = request.into_inner();
        let top = if req.top == 0 { 10 } else { i64::from(req.top) };
        if !(1..=100).contains(&top) {
            return Err(invalid_field("top", "must be 1 to 100"));
        }
        // Admins see the boards of their subtrees; a member may ask for their own rank.
        let admin =
            caller.has_any(AWARDERS) && self.org.scopes().check(&caller, &req.org_id).await.is_ok();
        let own_rank = !req.member_id.is_empty() && req.member_id == caller.subject;
        if !admin && !own_rank {
            return Err(Status::permission_denied(
                "leaderboards are for admins of the subtree; members see their own rank",
            ));
        }
        let path = self.org.path_of(&req.org_id).await?;
        let year = if req.year == 0 {
            periods(self.store.now()).0
        } else {
            i64::from(req.year)
        };
        let top = if admin {
            self.store.leaderboard(path.as_str(), year, top).await?
        } else {
            Vec::new()
        };
        let member = if req.member_id.is_empty() {
            None
        } else {
            self.store
                .standing(path.as_str(), year, &req.member_id)
                .await?
        };
        Ok(Response::new(pb::Leaderboard {
            org_id: req.org_id,
            year: i32::try_from(year).unwrap_or_default(),
            top: top.iter().map(standing_to_proto).collect(),
            member: member.as_ref().map(standing_to_proto),
        }))
    }

    async fn import_points(
        &self,
        request: Request<pb::ImportPointsRequest>,
    ) -> Result<Response<pb::ImportPointsResponse>, Status> {
        let caller = caller(&request)?.clone();
        self.org
            .scopes()
            .require_whole_district(&caller, &[Role::DistrictAdmin])
            .await?;
        let req = request.into_inner();
        if req.entries.is_empty() || req.entries.len() > MAX_IMPORTED_PER_CALL {
            return Err(invalid_field(
                "entries",
                "must hold 1 to 1,000 entries; send a larger import in several calls",
            ));
        }
        let now = self.store.now();
        let mut violations = FieldViolations::new();
        let mut entries = Vec::with_capacity(req.entries.len());
        let mut seen = std::collections::HashSet::new();
        for (n, given) in req.entries.into_iter().enumerate() {
            let field = |name: &str| format!("entries[{n}].{name}");
            let id = violations.check(&field("entry_id"), entry_id(&given.entry_id));
            if !seen.insert(given.entry_id.clone()) {
                violations.add(field("entry_id"), "appears twice in this call");
            }
            let code = violations.check(&field("rule_code"), rule_code(&given.rule_code));
            if given.member_id.is_empty() {
                violations.add(field("member_id"), "must not be empty");
            }
            if !(1..=10_000).contains(&given.points) {
                violations.add(field("points"), "must be 1 to 10,000");
            }
            let reason = text(&mut violations, &field("reason"), &given.reason);
            let evidence = text(&mut violations, &field("evidence"), &given.evidence);
            let at = violations
                .check(&field("grant_time"), millis_of(given.grant_time.as_ref()))
                .flatten();
            match at {
                None if given.grant_time.is_none() => {
                    violations.add(field("grant_time"), "must be set")
                }
                None => {}
                Some(at) if at > now => {
                    violations.add(field("grant_time"), "must not be in the future")
                }
                Some(_) => {}
            }
            if let (Some(id), Some(rule_code), Some(at)) = (id, code, at) {
                entries.push(ImportedEntry {
                    entry: NewEntry {
                        id,
                        member_id: given.member_id,
                        reason,
                        evidence,
                        source_event_id: String::new(),
                        actor: caller.subject.clone(),
                    },
                    rule_code,
                    points: given.points,
                    at,
                });
            }
        }
        violations.into_result()?;
        let written = self.store.import_points(&entries).await?;
        let written = i64::try_from(written).unwrap_or(i64::MAX);
        Ok(Response::new(pb::ImportPointsResponse {
            written,
            skipped: entries.len() as i64 - written,
        }))
    }
}
