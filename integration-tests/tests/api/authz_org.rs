//! The org service's authorization matrix, and the event sink's: see `authz/mod.rs`.

use crate::authz;
use crate::common;

use std::sync::atomic::{AtomicI64, Ordering};

use authz::{Fixture, Row, Side, unique};
use jiceng_auth::Role;
use jiceng_db::now_millis;
use jiceng_proto::{
    cloudevents, events,
    org::{
        self as pb, alliance_service_client::AllianceServiceClient,
        meeting_service_client::MeetingServiceClient, org_service_client::OrgServiceClient,
        position_service_client::PositionServiceClient, venue_service_client::VenueServiceClient,
        witness_service_client::WitnessServiceClient,
    },
};
use prost_types::Timestamp;

/// The first head of a log named `log`: one leaf, nothing witnessed before.
fn first_head(log: &str) -> pb::WitnessTreeHeadRequest {
    pb::WitnessTreeHeadRequest {
        log: log.to_owned(),
        from_size: 0,
        tree_size: 1,
        root_hash: jiceng_merkle::leaf_hash(log.as_bytes()).to_vec(),
        timestamp: timestamp(now_millis()),
        signature: vec![7; 64],
        consistency_proof: Vec::new(),
    }
}

/// A fresh log whose first head the witness holds.
async fn witnessed_log<X>(f: &Fixture<X>) -> String {
    let log = format!("authz-{}", authz::serial());
    f.as_role(Role::Service, Side::In, WitnessServiceClient::new)
        .await
        .witness_tree_head(first_head(&log))
        .await
        .expect("the witness takes a first head");
    log
}

/// What the rows read without changing: made once in street A.
struct Shared {
    alliance: String,
    meeting: String,
    project: String,
    venue: String,
    /// Confirmed bookings that have begun, each of its own venue: one per call that records
    /// attendance.
    begun: std::sync::Mutex<Vec<String>>,
}

type F = Fixture<Shared>;

fn timestamp(millis: i64) -> Option<Timestamp> {
    Some(jiceng_grpc::timestamp(millis))
}

/// A fresh unit of `kind` under `parent`, made by the district admin.
async fn unit<X>(f: &Fixture<X>, parent: &str, kind: pb::UnitKind) -> String {
    common::create(
        &mut f.admin(OrgServiceClient::new).await,
        parent,
        kind,
        &unique("单位"),
    )
    .await
    .id
}

/// A fresh branch under street A's general branch.
async fn branch(f: &F) -> String {
    unit(f, &f.a.branch, pb::UnitKind::Branch).await
}

/// An hour-long slot next week that no other booking of the run takes.
fn slot() -> (Option<Timestamp>, Option<Timestamp>) {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    let start = now_millis() + 7 * 86_400_000 + NEXT.fetch_add(1, Ordering::Relaxed) * 3_600_000;
    (timestamp(start), timestamp(start + 3_600_000))
}

fn booking_request(f: &F) -> pb::CreateBookingRequest {
    let (start_time, end_time) = slot();
    pb::CreateBookingRequest {
        venue_id: f.x.venue.clone(),
        unit_id: f.a.branch.clone(),
        title: "支部主题党日".into(),
        expected_attendees: 20,
        start_time,
        end_time,
        ..Default::default()
    }
}

/// A fresh booking of the shared venue, awaiting confirmation.
async fn booking(f: &F) -> String {
    f.admin(VenueServiceClient::new)
        .await
        .create_booking(booking_request(f))
        .await
        .expect("booking")
        .into_inner()
        .id
}

/// A fresh meeting hosted by street A's general branch, scheduled for tomorrow.
async fn meeting<X>(f: &Fixture<X>) -> String {
    f.admin(MeetingServiceClient::new)
        .await
        .schedule_joint_meeting(pb::ScheduleJointMeetingRequest {
            host: Some(pb::schedule_joint_meeting_request::Host::HostUnitId(
                f.a.branch.clone(),
            )),
            title: "联席会议".into(),
            topic: Some(pb::schedule_joint_meeting_request::Topic::TopicText(
                "加装电梯".into(),
            )),
            scheduled_time: timestamp(now_millis() + 86_400_000),
            ..Default::default()
        })
        .await
        .expect("meeting")
        .into_inner()
        .id
}

fn decision_request(f: &F) -> pb::AddDecisionRequest {
    pb::AddDecisionRequest {
        meeting_id: f.x.meeting.clone(),
        text: "三十日内完成方案公示".into(),
        owner_unit_id: f.a.branch.clone(),
        due_time: timestamp(now_millis() + 30 * 86_400_000),
        ..Default::default()
    }
}

fn rows() -> Vec<Row<Shared>> {
    vec![
        // The tree.
        row!(
            "/jiceng.org.v1.OrgService/CreateUnit",
            [Admins],
            Subtree,
            |f| pb::CreateUnitRequest {
                parent_id: f.a.branch.clone(),
                kind: pb::UnitKind::Branch as i32,
                name: unique("第二党支部"),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.OrgService/GetUnit",
            [Everyone],
            Subtree,
            |f| pb::GetUnitRequest {
                id: f.a.branch.clone()
            }
        ),
        row!(
            "/jiceng.org.v1.OrgService/UpdateUnit",
            [Admins],
            Subtree,
            |f| pb::UpdateUnitRequest {
                id: branch(&f).await,
                unit: Some(pb::Unit {
                    name: unique("改名党支部"),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["name".into()],
                }),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.OrgService/MoveUnit",
            [Admins],
            Subtree,
            |f| {
                let from = branch(&f).await;
                let group = unit(&f, &from, pb::UnitKind::PartyGroup).await;
                pb::MoveUnitRequest {
                    id: group,
                    new_parent_id: branch(&f).await,
                    ..Default::default()
                }
            }
        ),
        row!(
            "/jiceng.org.v1.OrgService/DissolveUnit",
            [Admins],
            Subtree,
            |f| pb::DissolveUnitRequest {
                id: branch(&f).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.OrgService/ListChildren",
            [Everyone],
            Subtree,
            |f| pb::ListChildrenRequest {
                parent_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.OrgService/ListSubtree",
            [Everyone],
            Subtree,
            |f| pb::ListSubtreeRequest {
                root_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.OrgService/GetAncestry",
            [Everyone],
            Subtree,
            |f| pb::GetAncestryRequest {
                id: f.a.branch.clone()
            }
        ),
        // Searches only the caller's own subtree, so it has no target to be out of scope.
        row!(
            "/jiceng.org.v1.OrgService/SearchUnits",
            [Everyone],
            Anywhere,
            |f| pb::SearchUnitsRequest {
                query: "党支部".into(),
                ..Default::default()
            }
        ),
        // Asks about the caller's own scope: the answer for a unit outside it is "no".
        row!(
            "/jiceng.org.v1.OrgService/CheckScope",
            [Everyone],
            Anywhere,
            |f| pb::CheckScopeRequest {
                org_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        // Other services' replicas poll it to keep their scope caches current.
        row!(
            "/jiceng.org.v1.OrgService/GetTreeGeneration",
            [Service],
            Anywhere,
            |f| pb::GetTreeGenerationRequest {}
        ),
        row!(
            "/jiceng.org.v1.OrgService/ListKindRules",
            [Everyone],
            Anywhere,
            |f| pb::ListKindRulesRequest {
                ..Default::default()
            }
        ),
        // District-wide: only a district admin whose scope is the district root.
        row!(
            "/jiceng.org.v1.OrgService/AddKindRule",
            [DistrictAdmin],
            Subtree,
            |f| pb::AddKindRuleRequest {
                parent_kind: pb::UnitKind::PartyMassServiceStation as i32,
                child_kind: pb::UnitKind::PartyGroup as i32,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.OrgService/ListAuditRecords",
            [DistrictAdmin],
            Subtree,
            |f| pb::ListAuditRecordsRequest {
                target_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        // Positions.
        row!(
            "/jiceng.org.v1.PositionService/AppointPosition",
            [Admins],
            Subtree,
            |f| pb::AppointPositionRequest {
                unit_id: f.a.branch.clone(),
                role: pb::PositionRole::CommitteeMember as i32,
                holder: Some(pb::appoint_position_request::Holder::Person(
                    pb::ExternalPerson {
                        name: unique("委员"),
                        unit_name: "浦东新区市场监管局".into(),
                    }
                )),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.PositionService/EndPosition",
            [Admins],
            Subtree,
            |f| {
                let position = f
                    .admin(PositionServiceClient::new)
                    .await
                    .appoint_position(pb::AppointPositionRequest {
                        unit_id: f.a.branch.clone(),
                        role: pb::PositionRole::CommitteeMember as i32,
                        holder: Some(pb::appoint_position_request::Holder::Person(
                            pb::ExternalPerson {
                                name: unique("委员"),
                                unit_name: "浦东新区市场监管局".into(),
                            },
                        )),
                        ..Default::default()
                    })
                    .await
                    .expect("appointed")
                    .into_inner();
                pb::EndPositionRequest {
                    id: position.id,
                    reason: "任期届满".into(),
                    ..Default::default()
                }
            }
        ),
        row!(
            "/jiceng.org.v1.PositionService/ListPositions",
            [Everyone],
            Subtree,
            |f| pb::ListPositionsRequest {
                unit_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.PositionService/ListCurrentHolders",
            [Everyone],
            Subtree,
            |f| pb::ListCurrentHoldersRequest {
                unit_id: f.a.branch.clone(),
                role: pb::PositionRole::CommitteeMember as i32,
                ..Default::default()
            }
        ),
        // Alliances: led by a unit, read by anyone, since they join units across the tree.
        row!(
            "/jiceng.org.v1.AllianceService/CreateAlliance",
            [Admins],
            Subtree,
            |f| pb::CreateAllianceRequest {
                name: unique("街区党建联盟"),
                kind: pb::AllianceKind::StreetBlock as i32,
                lead_unit_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.AllianceService/GetAlliance",
            [Everyone],
            Anywhere,
            |f| pb::GetAllianceRequest {
                id: f.x.alliance.clone()
            }
        ),
        row!(
            "/jiceng.org.v1.AllianceService/ListAlliances",
            [Everyone],
            Subtree,
            |f| pb::ListAlliancesRequest {
                unit_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.AllianceService/AddAllianceMember",
            [Admins],
            Subtree,
            |f| pb::AddAllianceMemberRequest {
                alliance_id: f.x.alliance.clone(),
                member: Some(pb::add_alliance_member_request::Member::UnitId(
                    branch(&f).await
                )),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.AllianceService/RemoveAllianceMember",
            [Admins],
            Subtree,
            |f| {
                let joined = f
                    .admin(AllianceServiceClient::new)
                    .await
                    .add_alliance_member(pb::AddAllianceMemberRequest {
                        alliance_id: f.x.alliance.clone(),
                        member: Some(pb::add_alliance_member_request::Member::UnitId(
                            branch(&f).await,
                        )),
                        ..Default::default()
                    })
                    .await
                    .expect("joined")
                    .into_inner();
                pb::RemoveAllianceMemberRequest {
                    id: joined.id,
                    reason: "单位撤并".into(),
                    ..Default::default()
                }
            }
        ),
        row!(
            "/jiceng.org.v1.AllianceService/ListAllianceMembers",
            [Everyone],
            Anywhere,
            |f| pb::ListAllianceMembersRequest {
                alliance_id: f.x.alliance.clone(),
                ..Default::default()
            }
        ),
        // Joint meetings and projects, run by the admins of their host unit.
        row!(
            "/jiceng.org.v1.MeetingService/ScheduleJointMeeting",
            [Admins],
            Subtree,
            |f| pb::ScheduleJointMeetingRequest {
                host: Some(pb::schedule_joint_meeting_request::Host::HostUnitId(
                    f.a.branch.clone()
                )),
                title: "联席会议".into(),
                topic: Some(pb::schedule_joint_meeting_request::Topic::TopicText(
                    "加装电梯".into()
                )),
                scheduled_time: timestamp(now_millis() + 86_400_000),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.MeetingService/RecordJointMeeting",
            [Admins],
            Subtree,
            |f| pb::RecordJointMeetingRequest {
                id: meeting(&*f).await,
                attendees: vec![pb::Attendee {
                    attendee: Some(pb::attendee::Attendee::UnitId(f.a.branch.clone())),
                }],
                minutes: "议定方案".into(),
                held_time: timestamp(now_millis()),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.MeetingService/GetJointMeeting",
            [Everyone],
            Subtree,
            |f| pb::GetJointMeetingRequest {
                id: f.x.meeting.clone()
            }
        ),
        row!(
            "/jiceng.org.v1.MeetingService/AddDecision",
            [Admins],
            Subtree,
            |f| decision_request(&f)
        ),
        row!(
            "/jiceng.org.v1.MeetingService/UpdateDecisionStatus",
            [Admins],
            Subtree,
            |f| {
                let decision = f
                    .admin(MeetingServiceClient::new)
                    .await
                    .add_decision(decision_request(&f))
                    .await
                    .expect("decision")
                    .into_inner();
                pb::UpdateDecisionStatusRequest {
                    id: decision.id,
                    status: pb::DecisionStatus::Done as i32,
                    note: "已公示".into(),
                    ..Default::default()
                }
            }
        ),
        // Lists what is overdue inside the caller's own scope.
        row!(
            "/jiceng.org.v1.MeetingService/ListOverdueDecisions",
            [Everyone],
            Anywhere,
            |f| pb::ListOverdueDecisionsRequest {
                ..Default::default()
            }
        ),
        // Projects are a residential committee's: above a general branch's admin and members.
        row!(
            "/jiceng.org.v1.MeetingService/CreateProject",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::CreateProjectRequest {
                unit_id: f.a.committee.clone(),
                name: unique("加装电梯项目"),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.MeetingService/RecordProjectMeeting",
            [DistrictAdmin, StreetAdmin],
            Subtree,
            |f| pb::RecordProjectMeetingRequest {
                project_id: f.x.project.clone(),
                stage: pb::ProjectStage::Hearing as i32,
                held_time: timestamp(now_millis()),
                outcome: "听取居民意见".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.MeetingService/GetProject",
            [DistrictAdmin, StreetAdmin, GridWorker, Service, Integration],
            Subtree,
            |f| pb::GetProjectRequest {
                id: f.x.project.clone()
            }
        ),
        // Venues: looked at across the district, run by the admins of their unit.
        row!(
            "/jiceng.org.v1.VenueService/CreateVenue",
            [Admins],
            Subtree,
            |f| pb::CreateVenueRequest {
                unit_id: f.a.branch.clone(),
                name: unique("党群服务站"),
                capacity: 40,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.VenueService/GetVenue",
            [Everyone],
            Anywhere,
            |f| pb::GetVenueRequest {
                id: f.x.venue.clone()
            }
        ),
        row!(
            "/jiceng.org.v1.VenueService/ListVenues",
            [Everyone],
            Anywhere,
            |f| pb::ListVenuesRequest {
                unit_id: f.a.branch.clone(),
                ..Default::default()
            }
        ),
        // On behalf of a unit, by its admins (a member books as themself, with no unit).
        row!(
            "/jiceng.org.v1.VenueService/CreateBooking",
            [Admins],
            Subtree,
            |f| booking_request(&f)
        ),
        row!(
            "/jiceng.org.v1.VenueService/ConfirmBooking",
            [Admins],
            Subtree,
            |f| pb::ConfirmBookingRequest {
                id: booking(&f).await,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.VenueService/CancelBooking",
            [Admins],
            Subtree,
            |f| pb::CancelBookingRequest {
                id: booking(&f).await,
                reason: "改期".into(),
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.VenueService/RecordAttendance",
            [Admins],
            Subtree,
            |f| pb::RecordAttendanceRequest {
                id: f
                    .x
                    .begun
                    .lock()
                    .expect("bookings")
                    .pop()
                    .expect("a booking per call"),
                headcount: 18,
                ..Default::default()
            }
        ),
        row!(
            "/jiceng.org.v1.VenueService/ListBookings",
            [Everyone],
            Anywhere,
            |f| pb::ListBookingsRequest {
                venue_id: f.x.venue.clone(),
                ..Default::default()
            }
        ),
        // The witness: the platform's own services keep their logs' heads there; a
        // whole-district admin reads them and resets one after a restore.
        row!(
            "/jiceng.org.v1.WitnessService/GetWitnessedHead",
            [DistrictAdmin, Service],
            Subtree,
            |f| pb::GetWitnessedHeadRequest {
                log: witnessed_log(&f).await,
            }
        ),
        row!(
            "/jiceng.org.v1.WitnessService/WitnessTreeHead",
            [Service],
            Anywhere,
            |f| first_head(&format!("authz-{}", authz::serial()))
        ),
        row!(
            "/jiceng.org.v1.WitnessService/ResetWitnessedHead",
            [DistrictAdmin],
            Subtree,
            |f| pb::ResetWitnessedHeadRequest {
                log: witnessed_log(&f).await,
                reason: "按备份恢复后确认".into(),
                tree_size: 1,
            }
        ),
        // Machine to machine: the relays of other services, whatever their token's scope.
        row!(
            "/jiceng.events.v1.EventSinkService/Deliver",
            [Service],
            Anywhere,
            |f| events::DeliverRequest {
                event: Some(cloudevents::CloudEvent {
                    id: unique("probe-"),
                    source: "/jiceng/authz".into(),
                    spec_version: "1.0".into(),
                    r#type: "jiceng.authz.probe".into(),
                    ..Default::default()
                }),
            }
        ),
    ]
}

async fn setup(f: &Fixture<()>) -> Shared {
    let alliance = f
        .admin(AllianceServiceClient::new)
        .await
        .create_alliance(pb::CreateAllianceRequest {
            name: "陆家嘴街区党建联盟".into(),
            kind: pb::AllianceKind::StreetBlock as i32,
            lead_unit_id: f.a.branch.clone(),
            ..Default::default()
        })
        .await
        .expect("alliance")
        .into_inner()
        .id;
    let meeting = meeting(f).await;
    let project = f
        .admin(MeetingServiceClient::new)
        .await
        .create_project(pb::CreateProjectRequest {
            unit_id: f.a.committee.clone(),
            name: "加装电梯项目".into(),
            ..Default::default()
        })
        .await
        .expect("project")
        .into_inner()
        .id;
    let venue = f
        .admin(VenueServiceClient::new)
        .await
        .create_venue(pb::CreateVenueRequest {
            unit_id: f.a.branch.clone(),
            name: "梅园党群服务站".into(),
            capacity: 60,
            requires_confirmation: true,
            ..Default::default()
        })
        .await
        .expect("venue")
        .into_inner()
        .id;
    // Attendance is taken once a booking has begun, and a booking starts in the future: the
    // platform's clock moves past the start once all are booked.
    let start = f.platform.clock.now() + 1500;
    let mut begun = Vec::new();
    let mut venues = f.admin(VenueServiceClient::new).await;
    for _ in 0..authz::CELLS {
        let venue = venues
            .create_venue(pb::CreateVenueRequest {
                unit_id: f.a.branch.clone(),
                name: unique("活动室"),
                capacity: 30,
                ..Default::default()
            })
            .await
            .expect("venue")
            .into_inner()
            .id;
        let booking = venues
            .create_booking(pb::CreateBookingRequest {
                venue_id: venue,
                unit_id: f.a.branch.clone(),
                title: "支部主题党日".into(),
                expected_attendees: 20,
                start_time: timestamp(start),
                end_time: timestamp(start + 3_600_000),
                ..Default::default()
            })
            .await
            .expect("booking")
            .into_inner();
        assert_eq!(booking.status, pb::BookingStatus::Confirmed as i32);
        begun.push(booking.id);
    }
    f.platform.clock.advance(1_510);
    Shared {
        begun: begun.into(),
        alliance,
        meeting,
        project,
        venue,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_org_rpc_admits_exactly_the_roles_and_scopes_its_row_names() {
    let base = Fixture::start().await;
    let shared = setup(&base).await;
    authz::check("org", base.with(shared), rows()).await;
}
