//! `jiceng up --demo`: a sample Pudong district written through the org store — a few streets and
//! towns with residential committees and branches, Beicai town's five-level grid network,
//! Lujiazui's "1 + 34" service-centre network, Yangjing's street-block alliance, a joint meeting
//! with a decision, a three-meeting project, positions, venues and bookings — so that a first
//! call has something to read.

use jiceng_org::{
    OrgStore,
    domain::{
        Unit, UnitId, UnitKind, UnitName,
        alliances::{AllianceKind, AllianceMemberRef, CreditCode},
        meetings::{Attendee, Host, ProjectStage, Topic, Vote},
        positions::{Holder, NewPosition, PositionRole},
        text::Person,
        venues::{Booker, NewBooking, NewVenue, OpeningHours},
    },
    store::{Mutation, NewMeeting, NewProjectMeeting, StoreError},
};

use jiceng_db::now_millis;

use crate::district::pudong_streets_and_towns;

/// A unit to create and the units below it.
struct Node {
    kind: UnitKind,
    name: &'static str,
    children: Vec<Node>,
}

fn node(kind: UnitKind, name: &'static str, children: Vec<Node>) -> Node {
    Node {
        kind,
        name,
        children,
    }
}

fn residential(name: &'static str, branches: &[&'static str]) -> Node {
    let branches = branches
        .iter()
        .map(|b| {
            node(
                UnitKind::Branch,
                b,
                vec![node(UnitKind::PartyGroup, "第一党小组", vec![])],
            )
        })
        .collect();
    node(UnitKind::ResidentialCommittee, name, branches)
}

/// Streets and towns of the demo, with what hangs below them. Names of the streets and towns
/// come from the shipped reference list.
fn demo_tree() -> Vec<(&'static str, Vec<Node>)> {
    use UnitKind::*;
    vec![
        (
            "陆家嘴街道",
            vec![
                residential(
                    "梅园一村居民区党总支",
                    &["梅园一村第一党支部", "梅园一村第二党支部"],
                ),
                residential("东昌居民区党总支", &["东昌第一党支部"]),
                node(BuildingBranch, "金茂大厦楼宇联合党支部", vec![]),
            ],
        ),
        (
            "潍坊新村街道",
            vec![residential("潍坊一村居民区党总支", &["潍坊一村第一党支部"])],
        ),
        (
            "洋泾街道",
            vec![
                residential("东城一村居民区党总支", &["东城一村第一党支部"]),
                residential("阳光苑居民区党总支", &["阳光苑第一党支部"]),
            ],
        ),
        (
            "花木街道",
            vec![residential("由由一村居民区党总支", &["由由一村第一党支部"])],
        ),
        (
            "高行镇",
            vec![residential("东沟新村居民区党总支", &["东沟新村第一党支部"])],
        ),
        (
            "北蔡镇",
            vec![node(
                GridCommandCentre,
                "北蔡镇网格化综合管理指挥中心",
                vec![
                    node(
                        VillageCommittee,
                        "御桥村党总支",
                        vec![node(
                            ServiceTeam,
                            "御桥村组团式服务团队",
                            vec![node(VillagerGroup, "第三村民小组", vec![])],
                        )],
                    ),
                    node(
                        ResidentialCommittee,
                        "鹏飞居民区党总支",
                        vec![node(
                            BusinessDistrict,
                            "鹏飞商圈",
                            vec![node(BuildingGroup, "鹏飞路88弄居民楼组", vec![])],
                        )],
                    ),
                    node(
                        Enterprise,
                        "上海某科技有限公司",
                        vec![node(Workshop, "第一车间", vec![])],
                    ),
                    node(
                        StationedUnit,
                        "北蔡镇社区卫生服务中心",
                        vec![node(Department, "全科门诊科室", vec![])],
                    ),
                ],
            )],
        ),
    ]
}

/// Loads the demo tree under `root` unless the root already has units below it. Returns how many
/// units were created.
pub async fn load(store: &OrgStore, root: &UnitId) -> Result<usize, StoreError> {
    let root = store.get(root).await?;
    let existing = store.children(&root, true, None, 1).await?;
    if !existing.is_empty() {
        return Ok(0);
    }
    let mutation = Mutation {
        actor: "jiceng-demo".into(),
        request_id: None,
        trace_id: None,
    };
    let places = pudong_streets_and_towns();
    let mut units: Vec<Unit> = Vec::new();
    for (place, children) in demo_tree() {
        let Some(place) = places.iter().find(|p| p.name == place) else {
            continue;
        };
        let (kind, suffix) = if place.is_town {
            (UnitKind::TownCommittee, "党委")
        } else {
            (UnitKind::StreetWorkingCommittee, "党工委")
        };
        let unit = create(
            store,
            &mutation,
            &root,
            kind,
            &format!("{}{suffix}", place.name),
        )
        .await?;
        units.extend(create_all(store, &mutation, &unit, children).await?);
        units.push(unit);
    }
    let platforms = load_platforms(store, &mutation, &units).await?;
    Ok(units.len() + platforms)
}

/// Finds a demo unit by name.
fn unit<'a>(units: &'a [Unit], name: &str) -> Result<&'a Unit, StoreError> {
    units
        .iter()
        .find(|u| u.name.as_str() == name)
        .ok_or_else(|| StoreError::NotFound {
            what: "demo unit",
            id: name.to_owned(),
        })
}

/// Lujiazui's "1 + 34" network, Yangjing's street-block alliance, positions, a joint meeting with
/// a decision, a residential project through its hearing, and venues with bookings. Returns how
/// many units it added.
async fn load_platforms(
    store: &OrgStore,
    mutation: &Mutation,
    units: &[Unit],
) -> Result<usize, StoreError> {
    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    let now = now_millis();
    let lujiazui = unit(units, "陆家嘴街道党工委")?;
    let yangjing = unit(units, "洋泾街道党工委")?;
    let meiyuan = unit(units, "梅园一村居民区党总支")?;

    let centre = create(
        store,
        mutation,
        lujiazui,
        UnitKind::PartyMassServiceCentre,
        "陆家嘴党群服务中心",
    )
    .await?;
    let network = store
        .create_alliance(
            mutation,
            "陆家嘴“1+34”党群服务阵地网络",
            AllianceKind::ServiceCentreNetwork,
            &centre.id,
            "一个党群服务中心和34个党群服务站",
        )
        .await?;
    let mut added = 1;
    for n in 1..=34 {
        let station = create(
            store,
            mutation,
            &centre,
            UnitKind::PartyMassServiceStation,
            &format!("陆家嘴第{n}党群服务站"),
        )
        .await?;
        store
            .join_alliance(
                mutation,
                &network.id,
                &AllianceMemberRef::Unit(station.id),
                now,
            )
            .await?;
        added += 1;
    }

    let block = store
        .create_alliance(
            mutation,
            "洋泾街区党建联盟",
            AllianceKind::StreetBlock,
            &yangjing.id,
            "街区内单位共驻共建",
        )
        .await?;
    for name in ["东城一村居民区党总支", "阳光苑居民区党总支"] {
        store
            .join_alliance(
                mutation,
                &block.id,
                &AllianceMemberRef::Unit(unit(units, name)?.id.clone()),
                now,
            )
            .await?;
    }
    for (name, code) in [
        ("洋泾某科技有限公司", "91310115MA1FL0001N"),
        ("洋泾某社区服务社", "52310115MJ4900012L"),
    ] {
        let credit_code = CreditCode::parse(code).map_err(|e| demo_error(code, e))?;
        let organisation = AllianceMemberRef::Organisation {
            name: name.to_owned(),
            credit_code,
        };
        store
            .join_alliance(mutation, &block.id, &organisation, now)
            .await?;
    }

    let secretary = Holder::Person(Person {
        name: "张某".into(),
        unit_name: String::new(),
    });
    let appointment = NewPosition::new(
        lujiazui.id.clone(),
        PositionRole::Secretary,
        secretary,
        None,
        now - 400 * DAY,
        None,
    )
    .map_err(|(field, e)| demo_error(field, e))?;
    store.appoint(mutation, &appointment, false).await?;
    let stationed = Holder::Person(Person {
        name: "陈某".into(),
        unit_name: "某银行陆家嘴支行".into(),
    });
    let part_time = NewPosition::new(
        lujiazui.id.clone(),
        PositionRole::PartTimeCommitteeMember,
        stationed,
        Some("某银行陆家嘴支行".into()),
        now - 100 * DAY,
        None,
    )
    .map_err(|(field, e)| demo_error(field, e))?;
    store.appoint(mutation, &part_time, false).await?;

    let meeting = NewMeeting {
        host: Host::Unit(lujiazui.id.clone()),
        title: "街道行政党组会议".into(),
        topic: Topic::Text("老旧小区加装电梯推进难".into()),
        scheduled_at: now + 2 * DAY,
    };
    let meeting = store.schedule_meeting(mutation, &meeting).await?;
    store
        .add_decision(
            mutation,
            &meeting.id,
            "梅园一村3号楼完成意见征询",
            &meiyuan.id,
            now + 14 * DAY,
        )
        .await?;

    let project = store
        .create_project(mutation, &meiyuan.id, "梅园一村加装电梯", "3号楼、5号楼")
        .await?;
    let hearing = NewProjectMeeting {
        stage: ProjectStage::Hearing,
        held_at: now - 7 * DAY,
        attendees: vec![Attendee::Unit(meiyuan.id.to_string())],
        opinions: vec!["高层住户支持".into(), "低层住户担心采光".into()],
        outcome: "同意进入方案设计".into(),
        vote: Some(Vote {
            in_favour: 42,
            against: 3,
            abstaining: 5,
        }),
    };
    store
        .record_project_meeting(mutation, &project.id, &hearing)
        .await?;

    let every_day = (1..=7)
        .map(|day| OpeningHours::parse(day, 8 * 60 + 30, 21 * 60))
        .collect::<Result<Vec<_>, _>>();
    let opening_hours = every_day.map_err(|e| demo_error("opening_hours", e))?;
    let hall = NewVenue {
        unit_id: centre.id.clone(),
        name: "多功能厅".into(),
        capacity: 80,
        facilities: vec!["投影".into(), "音响".into()],
        opening_hours,
        bookable_by: Vec::new(),
        requires_confirmation: true,
    };
    let room = NewVenue {
        name: "党员活动室".into(),
        capacity: 30,
        facilities: Vec::new(),
        requires_confirmation: false,
        ..hall.clone()
    };
    let hall = store.create_venue(mutation, &hall).await?;
    let room = store.create_venue(mutation, &room).await?;
    // 10:00 Beijing time (02:00 UTC) in two and three days.
    let ten_am = (now / DAY + 2) * DAY + 2 * HOUR;
    for (venue, offset, title) in [(&hall, 0, "主题党日活动"), (&room, DAY, "党员志愿者培训")]
    {
        let booking = NewBooking {
            venue_id: venue.id.clone(),
            booker: Booker::Unit(meiyuan.id.clone()),
            title: title.into(),
            expected_attendees: 25,
            start_at: ten_am + offset,
            end_at: ten_am + offset + 2 * HOUR,
        };
        store.book(mutation, &booking, now).await?;
    }
    Ok(added)
}

fn demo_error(subject: &str, description: impl ToString) -> StoreError {
    StoreError::Precondition {
        kind: "DEMO",
        subject: subject.to_owned(),
        description: description.to_string(),
    }
}

async fn create(
    store: &OrgStore,
    mutation: &Mutation,
    parent: &Unit,
    kind: UnitKind,
    name: &str,
) -> Result<Unit, StoreError> {
    let name = UnitName::parse(name).map_err(|description| StoreError::Precondition {
        kind: "DEMO",
        subject: name.to_owned(),
        description,
    })?;
    store.create(mutation, &parent.id, kind, &name, None).await
}

async fn create_all(
    store: &OrgStore,
    mutation: &Mutation,
    parent: &Unit,
    nodes: Vec<Node>,
) -> Result<Vec<Unit>, StoreError> {
    let mut created = Vec::new();
    let mut stack: Vec<(Unit, Node)> = nodes.into_iter().map(|n| (parent.clone(), n)).collect();
    while let Some((parent, node)) = stack.pop() {
        let unit = create(store, mutation, &parent, node.kind, node.name).await?;
        stack.extend(node.children.into_iter().map(|child| (unit.clone(), child)));
        created.push(unit);
    }
    Ok(created)
}
