//! What other services' events mean for whom: each consumed event type becomes a publication in
//! a built-in category, addressed to the people concerned (a member, or whoever holds the
//! secretaryship of the unit concerned when the event arrives).

use std::collections::BTreeMap;

use jiceng_proto::{
    cloudevents::CloudEvent,
    event_types, grid as grid_pb, member as member_pb,
    org::{self as pb, PositionRole},
    property as property_pb,
};
use tonic::Status;

use jiceng_org_client::OrgDirectory;

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

fn role_name(role: i32) -> &'static str {
    match PositionRole::try_from(role) {
        Ok(PositionRole::Secretary) => "书记",
        Ok(PositionRole::DeputySecretary) => "副书记",
        Ok(PositionRole::CommitteeMember) => "委员",
        Ok(PositionRole::PartTimeCommitteeMember) => "兼职委员",
        Ok(PositionRole::GridLeader) => "网格长",
        _ => "职务",
    }
}

/// The publication an event calls for, if any.
pub async fn publication_for(
    event: &CloudEvent,
    org: &OrgDirectory,
) -> Result<Option<Publication>, Status> {
    let publication = match event.r#type.as_str() {
        event_types::POSITION_CHANGED => {
            let position: pb::Position = event_types::data_of(event)?;
            let Some(pb::position::Holder::MemberId(member)) = &position.holder else {
                return Ok(None);
            };
            let change = if position.term_end.is_some() {
                "任期结束"
            } else {
                "任职开始"
            };
            Publication {
                category: "org.position.changed",
                priority: Priority::Normal,
                variables: vars(&[
                    ("unit", org.unit_name(&position.unit_id).await?),
                    ("role", role_name(position.role).to_owned()),
                    ("change", change.to_owned()),
                ]),
                link: format!("positions/{}", position.id),
                recipients: vec![RecipientSpec::Member(member.clone())],
            }
        }
        event_types::MEETING_SCHEDULED => {
            let meeting: pb::JointMeeting = event_types::data_of(event)?;
            let host_unit = match &meeting.host {
                Some(pb::joint_meeting::Host::HostUnitId(unit)) => unit.clone(),
                Some(pb::joint_meeting::Host::HostAllianceId(alliance)) => {
                    org.alliance_lead(alliance).await?
                }
                None => return Ok(None),
            };
            let topic = match &meeting.topic {
                Some(pb::joint_meeting::Topic::TopicText(text)) => text.clone(),
                Some(pb::joint_meeting::Topic::GridCaseId(case)) => format!("网格案件 {case}"),
                None => String::new(),
            };
            Publication {
                category: "org.meeting.scheduled",
                priority: Priority::Normal,
                variables: vars(&[
                    ("title", meeting.title.clone()),
                    ("host", org.unit_name(&host_unit).await?),
                    ("topic", topic),
                ]),
                link: format!("meetings/{}", meeting.id),
                recipients: vec![secretary_of(&host_unit)],
            }
        }
        kind @ (event_types::DECISION_DUE | event_types::DECISION_OVERDUE) => {
            let decision: pb::Decision = event_types::data_of(event)?;
            let overdue = kind.ends_with("overdue");
            Publication {
                category: if overdue {
                    "org.decision.overdue"
                } else {
                    "org.decision.due"
                },
                priority: if overdue {
                    Priority::Urgent
                } else {
                    Priority::High
                },
                variables: vars(&[
                    ("text", decision.text.clone()),
                    ("owner", org.unit_name(&decision.owner_unit_id).await?),
                ]),
                link: format!("decisions/{}", decision.id),
                recipients: vec![secretary_of(&decision.owner_unit_id)],
            }
        }
        kind @ (event_types::BOOKING_CONFIRMED | event_types::BOOKING_CANCELLED) => {
            let booking: pb::Booking = event_types::data_of(event)?;
            let recipient = match &booking.booker {
                Some(pb::booking::Booker::MemberId(member)) => {
                    RecipientSpec::Member(member.clone())
                }
                Some(pb::booking::Booker::UnitId(unit)) => secretary_of(unit),
                None => return Ok(None),
            };
            let cancelled = kind.ends_with("cancelled");
            let mut variables = vars(&[("title", booking.title.clone())]);
            if cancelled {
                variables.insert("reason".into(), booking.cancel_reason.clone());
            }
            Publication {
                category: if cancelled {
                    "org.booking.cancelled"
                } else {
                    "org.booking.confirmed"
                },
                priority: Priority::Normal,
                variables,
                link: format!("bookings/{}", booking.id),
                recipients: vec![recipient],
            }
        }
        kind @ (event_types::CASE_DISPATCHED | event_types::CASE_VERIFICATION_FAILED) => {
            let case: grid_pb::Case = event_types::data_of(event)?;
            Publication {
                category: if kind.ends_with("dispatched") {
                    "grid.case.dispatched"
                } else {
                    "grid.case.verification_failed"
                },
                priority: Priority::High,
                variables: vars(&[
                    ("description", case.description.clone()),
                    ("owner", org.unit_name(&case.owner_org_id).await?),
                ]),
                link: format!("cases/{}", case.id),
                recipients: vec![secretary_of(&case.handler_org_id)],
            }
        }
        event_types::CASE_MERGED => {
            let merged: grid_pb::CaseMerged = event_types::data_of(event)?;
            let (Some(duplicate), Some(original)) = (&merged.duplicate, &merged.original) else {
                return Ok(None);
            };
            // Both reporters hear of it once, even when they are the same person.
            let mut recipients = vec![RecipientSpec::Member(original.reporter.clone())];
            if duplicate.reporter != original.reporter {
                recipients.push(RecipientSpec::Member(duplicate.reporter.clone()));
            }
            Publication {
                category: "grid.case.merged",
                priority: Priority::Normal,
                variables: vars(&[
                    ("description", original.description.clone()),
                    ("owner", org.unit_name(&original.owner_org_id).await?),
                ]),
                link: format!("cases/{}", original.id),
                recipients,
            }
        }
        event_types::PROJECT_PROPOSED => {
            let proposed: grid_pb::ProjectProposed = event_types::data_of(event)?;
            let (Some(project), Some(need), Some(resource)) =
                (&proposed.project, &proposed.need, &proposed.resource)
            else {
                return Ok(None);
            };
            // The side that did not propose answers: the provider, or the community in need.
            let (proposer, recipient) =
                if project.proposed_by_side == grid_pb::ProjectSide::Need as i32 {
                    let recipient = if project.provider_org_id.is_empty() {
                        RecipientSpec::Member(project.provider_member_id.clone())
                    } else {
                        secretary_of(&project.provider_org_id)
                    };
                    (org.unit_name(&need.org_id).await?, recipient)
                } else {
                    let proposer = if project.provider_org_id.is_empty() {
                        "一名党员".to_owned()
                    } else {
                        org.unit_name(&project.provider_org_id).await?
                    };
                    (proposer, secretary_of(&need.org_id))
                };
            Publication {
                category: "grid.project.proposed",
                priority: Priority::Normal,
                variables: vars(&[
                    ("title", project.title.clone()),
                    ("proposer", proposer),
                    ("resource", resource.title.clone()),
                    ("need", need.title.clone()),
                ]),
                link: format!("projects/{}", project.id),
                recipients: vec![recipient],
            }
        }
        kind @ (event_types::DISCLOSURE_DUE | event_types::DISCLOSURE_OVERDUE) => {
            let due: property_pb::DisclosureDue = event_types::data_of(event)?;
            let Some(item) = &due.item else {
                return Ok(None);
            };
            let overdue = kind.ends_with("overdue");
            let what = match property_pb::DisclosureKind::try_from(item.kind) {
                Ok(property_pb::DisclosureKind::FeeStandard) => "物业费收费标准",
                Ok(property_pb::DisclosureKind::FeeCollection) => "物业费收缴情况",
                Ok(property_pb::DisclosureKind::PublicRevenue) => "公共收益",
                Ok(property_pb::DisclosureKind::MaintenanceFund) => "维修资金",
                Ok(property_pb::DisclosureKind::Document) => "合同与证照",
                Ok(property_pb::DisclosureKind::Hotlines) => "服务热线",
                _ => "公示事项",
            };
            let due_time = item.due_time.unwrap_or_default();
            // The due time in Beijing, to the day.
            let day = (due_time.seconds + 8 * 3_600).div_euclid(86_400);
            let (year, month, date) = jiceng_telemetry::civil_from_days(day);
            let mut recipients: Vec<RecipientSpec> = due
                .publishers
                .iter()
                .map(|p| RecipientSpec::Member(p.clone()))
                .collect();
            if overdue {
                recipients.push(secretary_of(&due.committee_org_id));
            }
            Publication {
                category: if overdue {
                    "property.disclosure.overdue"
                } else {
                    "property.disclosure.due"
                },
                priority: if overdue {
                    Priority::Urgent
                } else {
                    Priority::High
                },
                variables: vars(&[
                    ("compound", due.compound_name.clone()),
                    ("item", what.to_owned()),
                    ("period", item.period.clone()),
                    ("due", format!("{year}年{month}月{date}日")),
                ]),
                link: format!("compounds/{}/disclosures", item.compound_id),
                recipients,
            }
        }
        event_types::WISH_FELLOWS_NAMED => {
            let wish: grid_pb::Wish = event_types::data_of(event)?;
            Publication {
                category: "grid.wish.fellows_named",
                priority: Priority::Normal,
                variables: vars(&[
                    ("title", wish.title.clone()),
                    ("beneficiary", wish.beneficiary_name.clone()),
                ]),
                link: format!("wishes/{}", wish.id),
                recipients: wish
                    .participant_member_ids
                    .iter()
                    .map(|member| RecipientSpec::Member(member.clone()))
                    .collect(),
            }
        }
        kind @ (event_types::WISH_CLAIMED | event_types::WISH_FULFILLED) => {
            let wish: grid_pb::Wish = event_types::data_of(event)?;
            Publication {
                category: if kind.ends_with("claimed") {
                    "grid.wish.claimed"
                } else {
                    "grid.wish.fulfilled"
                },
                priority: Priority::Normal,
                variables: vars(&[
                    ("title", wish.title.clone()),
                    ("beneficiary", wish.beneficiary_name.clone()),
                ]),
                link: format!("wishes/{}", wish.id),
                recipients: vec![secretary_of(&wish.org_id)],
            }
        }
        event_types::CASE_ESCALATED => {
            let escalated: grid_pb::CaseEscalated = event_types::data_of(event)?;
            let (Some(case), Some(escalation)) = (&escalated.escalated_case, &escalated.escalation)
            else {
                return Ok(None);
            };
            let step = match grid_pb::Step::try_from(escalation.step) {
                Ok(grid_pb::Step::Accept) => "立案",
                Ok(grid_pb::Step::Dispatch) => "派遣",
                Ok(grid_pb::Step::Handle) => "处置",
                Ok(grid_pb::Step::Verify) => "核查",
                _ => "办理",
            };
            // Both levels hear of it: the one that let it lapse and the one it climbed to.
            let mut recipients = vec![secretary_of(&escalation.from_org_id)];
            if escalation.to_org_id != escalation.from_org_id {
                recipients.push(secretary_of(&escalation.to_org_id));
            }
            Publication {
                category: "grid.case.escalated",
                priority: Priority::Urgent,
                variables: vars(&[
                    ("description", case.description.clone()),
                    ("owner", org.unit_name(&case.owner_org_id).await?),
                    ("step", step.to_owned()),
                    ("level", org.unit_name(&escalation.to_org_id).await?),
                ]),
                link: format!("cases/{}", case.id),
                recipients,
            }
        }
        event_types::STATUS_CHANGED => {
            let member: member_pb::Member = event_types::data_of(event)?;
            let status = match member_pb::MemberStatus::try_from(member.status) {
                Ok(member_pb::MemberStatus::Activist) => "入党积极分子",
                Ok(member_pb::MemberStatus::DevelopmentTarget) => "发展对象",
                Ok(member_pb::MemberStatus::Probationary) => "预备党员",
                Ok(member_pb::MemberStatus::Full) => "正式党员",
                _ => return Ok(None),
            };
            Publication {
                category: "member.status.changed",
                priority: Priority::Normal,
                variables: vars(&[("name", member.name.clone()), ("status", status.to_owned())]),
                link: format!("members/{}", member.id),
                recipients: vec![RecipientSpec::Member(member.id.clone())],
            }
        }
        event_types::TRANSFER_REQUESTED => {
            let transfer: member_pb::Transfer = event_types::data_of(event)?;
            Publication {
                category: "member.transfer.requested",
                priority: Priority::High,
                variables: vars(&[("unit", org.unit_name(&transfer.to_org_id).await?)]),
                link: format!("transfers/{}", transfer.id),
                recipients: vec![secretary_of(&transfer.to_org_id)],
            }
        }
        event_types::POINTS_APPROVED => {
            let entry: member_pb::LedgerEntry = event_types::data_of(event)?;
            Publication {
                category: "member.points.approved",
                priority: Priority::Low,
                variables: vars(&[
                    ("points", entry.amount.to_string()),
                    ("reason", entry.reason.clone()),
                ]),
                link: format!("ledger/{}", entry.id),
                recipients: vec![RecipientSpec::Member(entry.member_id.clone())],
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(publication))
}
