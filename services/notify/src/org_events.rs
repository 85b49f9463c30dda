//! What other services' events mean for whom: each consumed event type becomes a publication in
//! a built-in category, addressed to the people concerned (a member, or whoever holds the
//! secretaryship of the unit concerned when the event arrives). `HANDLERS` names the handler of
//! each event type; the handlers live in a submodule per service the events come from.

mod grid;
mod member;
mod org;
mod property;

use std::{collections::BTreeMap, future::Future, pin::Pin};

use jiceng_org_client::OrgDirectory;
use jiceng_proto::{
    cloudevents::CloudEvent,
    event_types,
    org::{self as pb, PositionRole},
};
use tonic::Status;

use crate::domain::{Category, Name, Priority, Template};

/// The event types the notify service consumes (route them here with `--event-sink`).
pub const CONSUMED: &[&str] = &[
    event_types::CASE_DISPATCHED,
    event_types::CASE_ESCALATED,
    event_types::CASE_VERIFICATION_FAILED,
    event_types::CASE_MERGED,
    event_types::PROJECT_PROPOSED,
    event_types::WISH_CLAIMED,
    event_types::WISH_FELLOWS_NAMED,
    event_types::WISH_FULFILLED,
    event_types::DISCLOSURE_DUE,
    event_types::DISCLOSURE_OVERDUE,
    event_types::STATUS_CHANGED,
    event_types::TRANSFER_REQUESTED,
    event_types::POINTS_APPROVED,
    UNIT_MOVED,
    event_types::POSITION_CHANGED,
    event_types::MEETING_SCHEDULED,
    event_types::DECISION_DUE,
    event_types::DECISION_OVERDUE,
    event_types::BOOKING_CONFIRMED,
    event_types::BOOKING_CANCELLED,
];

/// A subtree moved: scope answers cached for units in it are stale.
pub use jiceng_proto::event_types::UNIT_MOVED;

/// The unit an `org.unit.moved` event is about.
pub fn moved_unit(event: &CloudEvent) -> Result<pb::UnitMovedEvent, Status> {
    event_types::data_of::<pb::UnitMovedEvent>(event)
}

/// Who a publication is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecipientSpec {
    Member(String),
    /// Whoever holds `role` in the unit at publish time.
    UnitRole {
        unit_id: String,
        role: i32,
    },
    Topic(Name),
}

/// A notification to publish for an event.
#[derive(Clone, Debug)]
pub struct Publication {
    pub category: &'static str,
    pub priority: Priority,
    pub variables: BTreeMap<String, String>,
    pub link: String,
    pub recipients: Vec<RecipientSpec>,
}

/// The categories the org events arrive in; a district may change their templates.
pub fn builtin_categories() -> Vec<Category> {
    let category = |name: &str, title: &str, body: &str, variables: &[&str], critical: bool| {
        Category::new(
            Name::parse(name).expect("built-in names are valid"),
            Template::parse(title).expect("built-in templates are valid"),
            Template::parse(body).expect("built-in templates are valid"),
            variables.iter().map(|v| v.to_string()).collect(),
            critical,
        )
        .expect("built-in categories declare their variables")
    };
    vec![
        category(
            "org.position.changed",
            "职务变动：{{unit}}",
            "{{unit}}{{role}}，{{change}}",
            &["unit", "role", "change"],
            false,
        ),
        category(
            "org.meeting.scheduled",
            "会议通知：{{title}}",
            "{{host}}召开会议，议题：{{topic}}",
            &["title", "host", "topic"],
            false,
        ),
        category(
            "org.decision.due",
            "即将到期：{{text}}",
            "{{owner}}承办的会议决定即将到期",
            &["text", "owner"],
            false,
        ),
        category(
            "org.decision.overdue",
            "已逾期：{{text}}",
            "{{owner}}承办的会议决定已逾期，请尽快办结",
            &["text", "owner"],
            true,
        ),
        category(
            "org.booking.confirmed",
            "场地预约已确认：{{title}}",
            "“{{title}}”的场地预约已确认",
            &["title"],
            false,
        ),
        category(
            "org.booking.cancelled",
            "场地预约已取消：{{title}}",
            "“{{title}}”的场地预约已取消，原因：{{reason}}",
            &["title", "reason"],
            false,
        ),
        category(
            "grid.case.dispatched",
            "新派遣案件：{{description}}",
            "{{owner}}派遣的网格案件请及时处置",
            &["description", "owner"],
            false,
        ),
        category(
            "grid.case.escalated",
            "案件超时升级：{{description}}",
            "{{owner}}的网格案件{{step}}环节超时，已升级至{{level}}",
            &["description", "owner", "step", "level"],
            true,
        ),
        category(
            "grid.case.verification_failed",
            "核查未通过：{{description}}",
            "{{owner}}核查认为案件未处置到位，请继续处置",
            &["description", "owner"],
            false,
        ),
        category(
            "grid.case.merged",
            "反映的问题已合并办理：{{description}}",
            "同一问题的多次反映已合并为一件，由{{owner}}统一办理，进展请查看原案件",
            &["description", "owner"],
            false,
        ),
        category(
            "grid.project.proposed",
            "项目对接提议：{{title}}",
            "{{proposer}}提议以资源“{{resource}}”对接需求“{{need}}”，请确认或婉拒",
            &["title", "proposer", "resource", "need"],
            false,
        ),
        category(
            "property.disclosure.due",
            "公示即将到期：{{compound}}{{item}}",
            "{{compound}}{{period}}的{{item}}应于{{due}}前公示，请按时发布",
            &["compound", "item", "period", "due"],
            false,
        ),
        category(
            "property.disclosure.overdue",
            "公示已逾期：{{compound}}{{item}}",
            "{{compound}}{{period}}的{{item}}已于{{due}}到期仍未公示，请立即发布",
            &["compound", "item", "period", "due"],
            true,
        ),
        category(
            "grid.wish.claimed",
            "微心愿已被认领：{{title}}",
            "居民{{beneficiary}}的微心愿“{{title}}”已被认领，请跟进实现",
            &["title", "beneficiary"],
            false,
        ),
        category(
            "grid.wish.fellows_named",
            "您被列为微心愿共同认领人：{{title}}",
            "居民{{beneficiary}}的微心愿“{{title}}”由党员认领，并将您列为共同认领人，请确认参加或拒绝",
            &["title", "beneficiary"],
            false,
        ),
        category(
            "grid.wish.fulfilled",
            "微心愿已实现：{{title}}",
            "居民{{beneficiary}}的微心愿“{{title}}”已由认领方实现，请核实后确认并及时回访",
            &["title", "beneficiary"],
            false,
        ),
        category(
            "member.status.changed",
            "发展阶段更新：{{status}}",
            "{{name}}，您的状态已更新为{{status}}",
            &["name", "status"],
            false,
        ),
        category(
            "member.transfer.requested",
            "组织关系转入待接收",
            "有一名党员的组织关系申请转入{{unit}}，请及时处理",
            &["unit"],
            false,
        ),
        category(
            "member.points.approved",
            "积分到账：{{points}} 分",
            "{{reason}}",
            &["points", "reason"],
            false,
        ),
    ]
}

/// What an event comes to: the publication it calls for, if any.
type Outcome = Result<Option<Publication>, Status>;

/// Handles one event type; a plain function pointer, so that [`HANDLERS`] can be a table.
type Handler = for<'a> fn(&'a CloudEvent, &'a OrgDirectory) -> HandlerFuture<'a>;
type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// The [`Handler`] of an async handler function: its future boxed, as each has its own type.
macro_rules! handler {
    ($handle:path) => {
        |event, directory| Box::pin($handle(event, directory))
    };
}

/// The handler of each event type that calls for a publication. `UNIT_MOVED` has none: the gRPC
/// adapter refreshes the scope caches with it instead.
const HANDLERS: &[(&str, Handler)] = &[
    (
        event_types::POSITION_CHANGED,
        handler!(org::position_changed),
    ),
    (
        event_types::MEETING_SCHEDULED,
        handler!(org::meeting_scheduled),
    ),
    (event_types::DECISION_DUE, handler!(org::decision_deadline)),
    (
        event_types::DECISION_OVERDUE,
        handler!(org::decision_deadline),
    ),
    (
        event_types::BOOKING_CONFIRMED,
        handler!(org::booking_outcome),
    ),
    (
        event_types::BOOKING_CANCELLED,
        handler!(org::booking_outcome),
    ),
    (event_types::CASE_DISPATCHED, handler!(grid::case_to_handle)),
    (
        event_types::CASE_VERIFICATION_FAILED,
        handler!(grid::case_to_handle),
    ),
    (event_types::CASE_MERGED, handler!(grid::case_merged)),
    (event_types::CASE_ESCALATED, handler!(grid::case_escalated)),
    (
        event_types::PROJECT_PROPOSED,
        handler!(grid::project_proposed),
    ),
    (
        event_types::WISH_FELLOWS_NAMED,
        handler!(grid::wish_fellows_named),
    ),
    (event_types::WISH_CLAIMED, handler!(grid::wish_progress)),
    (event_types::WISH_FULFILLED, handler!(grid::wish_progress)),
    (
        event_types::DISCLOSURE_DUE,
        handler!(property::disclosure_deadline),
    ),
    (
        event_types::DISCLOSURE_OVERDUE,
        handler!(property::disclosure_deadline),
    ),
    (
        event_types::STATUS_CHANGED,
        handler!(member::status_changed),
    ),
    (
        event_types::TRANSFER_REQUESTED,
        handler!(member::transfer_requested),
    ),
    (
        event_types::POINTS_APPROVED,
        handler!(member::points_approved),
    ),
];

/// The publication an event calls for, if any; an event type without a handler calls for none.
pub async fn publication_for(
    event: &CloudEvent,
    org: &OrgDirectory,
) -> Result<Option<Publication>, Status> {
    match HANDLERS.iter().find(|(kind, _)| *kind == event.r#type) {
        Some((_, handle)) => handle(event, org).await,
        None => Ok(None),
    }
}

fn vars(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn secretary_of(unit_id: &str) -> RecipientSpec {
    RecipientSpec::UnitRole {
        unit_id: unit_id.to_owned(),
        role: PositionRole::Secretary as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_consumed_event_type_but_the_moved_unit_has_exactly_one_handler() {
        for kind in CONSUMED {
            let handlers = HANDLERS
                .iter()
                .filter(|(handled, _)| handled == kind)
                .count();
            let expected = usize::from(*kind != UNIT_MOVED);
            assert_eq!(handlers, expected, "{kind} has {handlers} handlers");
        }
    }

    #[test]
    fn every_handled_event_type_is_consumed() {
        for (kind, _) in HANDLERS {
            assert!(
                CONSUMED.contains(kind),
                "{kind} is handled but not consumed"
            );
        }
    }
}
