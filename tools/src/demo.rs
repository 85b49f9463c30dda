//! `jiceng up --demo`: a sample Pudong district written through the org store — a few streets and
//! towns with residential committees and branches, Beicai town's five-level grid network,
//! Lujiazui's "1 + 34" service-centre network, Yangjing's street-block alliance, a joint meeting
//! with a decision, a three-meeting project, positions, venues and bookings, members with
//! points, a grid with cases, a micro-wish and a matched need, and Gaohang's property
//! disclosures in the transparency log — so that a first call has something to read.

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
use jiceng_org_client::OrgPath;

use jiceng_db::now_millis;
use jiceng_member::{
    MemberStore, PiiVault,
    domain::{Date, IdCard, MemberStatus, Phone, points::PointsRule},
    store::{NewMember, ledger::NewEntry},
};
use jiceng_org::{domain::NameQuery, store::SubtreeFilter};

use jiceng_grid::{
    GridStore,
    domain::{
        Layer, Point, StaffRole,
        calendar::ClockKind,
        case::{Action, ReporterKind, Urgency},
        category::{Category, Limits},
        project::{Provider, Side},
        wish::WishState,
    },
    store::{
        NewGrid,
        cases::{ActionDetail, NewCase},
        projects::{NewNeed, NewResource},
        wishes::{NewWish, WishChange},
    },
};
use jiceng_property::{
    PropertyStore,
    domain::{
        CompanyDetails,
        compliance::{Frequency, Schedule},
        disclosure::{Content, Entry, FundSpending, Kind, Period, RevenueLine},
    },
    store::{NewCompany, NewCompound, Term},
};
use jiceng_values::{mask_name, mask_phone};

use jiceng_app::district::pudong_streets_and_towns;

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

/// A synthetic resident ID-card number for the demo: district 310115, a birth date, a sequence
/// number and the check character that makes it valid.
fn demo_id_card(birth: &str, sequence: u32) -> Option<IdCard> {
    let body = format!("310115{}{sequence:03}", birth.replace('-', ""));
    "0123456789X"
        .chars()
        .find_map(|check| IdCard::parse(&format!("{body}{check}")).ok())
}

/// Defines case categories as (code, name, clock, hours to handle): two hours each to accept and
/// to dispatch, eight to verify, a day beyond handling overall; urgent cases get half the time
/// to handle, critical ones two hours.
pub(crate) async fn define_categories(
    grid: &GridStore,
    categories: &[(&str, &str, ClockKind, i64)],
) -> Result<(), StoreError> {
    let limits = |hours: i64| Limits {
        accept: 2 * 60,
        dispatch: 2 * 60,
        handle: hours * 60,
        verify: 8 * 60,
        overall: (hours + 24) * 60,
    };
    for &(code, name, clock, hours) in categories {
        grid.define_category(&Category {
            code: code.into(),
            name: name.into(),
            attributes: Vec::new(),
            default_handler_kind: "residential_committee".into(),
            clock,
            limits: [limits(hours), limits(hours / 2), limits(2)],
        })
        .await?;
    }
    Ok(())
}

/// Members of the demo district, with points rules and a few entries, a dual registration and
/// a commitment. Returns how many members it registered.
pub async fn load_members(
    org: &OrgStore,
    members: &MemberStore,
    vault: &PiiVault,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let root = org.root().await?.ok_or("no district root")?;
    let query = |text: &str| NameQuery::parse(text).map_err(|e| demo_error(text, e));
    let find = |name: &'static str| {
        let root = root.clone();
        async move {
            let filter = SubtreeFilter::default();
            let found = org.search(&root, &query(name)?, &filter, None, 1).await?;
            found
                .into_iter()
                .next()
                .ok_or_else(|| demo_error(name, "not in the demo tree"))
        }
    };
    let branch = find("梅园一村第一党支部").await?;
    let building = find("金茂大厦楼宇联合党支部").await?;
    let community = find("梅园一村居民区党总支").await?;
    let people = [
        ("王建国", "1968-03-12", MemberStatus::Full, &branch),
        ("李秀英", "1975-07-01", MemberStatus::Full, &branch),
        ("张伟", "1990-10-18", MemberStatus::Probationary, &branch),
        ("刘洋", "1996-05-20", MemberStatus::Activist, &branch),
        ("陈静", "1988-12-02", MemberStatus::Full, &building),
        (
            "杨帆",
            "1993-09-09",
            MemberStatus::DevelopmentTarget,
            &building,
        ),
    ];
    let mut ids = Vec::new();
    for (i, (name, birth, status, unit)) in people.iter().enumerate() {
        let id_card = demo_id_card(birth, i as u32 + 1)
            .ok_or_else(|| demo_error(name, "no valid ID-card number"))?;
        let phone =
            Phone::parse(&format!("1391234{:04}", 5600 + i)).map_err(|e| demo_error(name, e))?;
        let new = NewMember {
            name: (*name).to_owned(),
            gender: None,
            birth_date: Some(Date::parse(birth).map_err(|e| demo_error(name, e))?),
            phone: Some((vault.seal(phone.expose()), phone.masked())),
            id_card: Some((
                vault.seal(id_card.expose()),
                id_card.masked(),
                vault.index(id_card.expose()),
            )),
            join_date: None,
            status: *status,
            org_id: unit.id.to_string(),
            org_path: OrgPath::of_unmoved_tree(unit.path.clone()),
        };
        ids.push(members.create("jiceng-demo", None, &new).await?.id);
    }
    let rule = PointsRule::everyday;
    members
        .define_rule(&rule("org_life.attend", "参加组织生活", 2, Some(4)))
        .await?;
    members
        .define_rule(&rule("volunteer.hour", "志愿服务每小时", 1, Some(8)))
        .await?;
    members
        .define_rule(&rule("activity.attend", "参加党群活动", 2, None))
        .await?;
    let now = now_millis();
    for (i, member) in ids.iter().enumerate() {
        for (n, code) in ["org_life.attend", "volunteer.hour", "volunteer.hour"]
            .iter()
            .enumerate()
            .take(1 + i % 3)
        {
            let entry = NewEntry {
                id: format!("demo-{i}-{n}"),
                member_id: member.clone(),
                reason: "示例积分".into(),
                evidence: String::new(),
                source_event_id: String::new(),
                actor: "jiceng-demo".into(),
            };
            members.award(&entry, code, now).await?;
        }
    }
    // 陈静 works in the Jin Mao building and lives in Meiyuan No. 1 village.
    members
        .register_in_community(&ids[4], community.id.as_str())
        .await?;
    members
        .publish_commitment(
            "demo",
            None,
            &ids[0],
            "每月为社区困难老人上门服务一次",
            "2026-12-31",
        )
        .await?;
    Ok(ids.len())
}

/// The grid side of the demo district: three issue categories, a grid of Meiyuan No. 1 with its
/// worker and a stationed party representative, cases at several steps of their course (one
/// reported by a resident, one dispatched, one closed and rated), a published micro-wish, and a
/// need matched with a resource. Returns how many cases it reported.
pub async fn load_grid(
    org: &OrgStore,
    grid: &GridStore,
    vault: &PiiVault,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let root = org.root().await?.ok_or("no district root")?;
    let query = |text: &str| NameQuery::parse(text).map_err(|e| demo_error(text, e));
    let find = |name: &'static str| {
        let root = root.clone();
        async move {
            let found = org
                .search(&root, &query(name)?, &SubtreeFilter::default(), None, 1)
                .await?;
            found
                .into_iter()
                .next()
                .ok_or_else(|| demo_error(name, "not in the demo tree"))
        }
    };
    let meiyuan = find("梅园一村居民区党总支").await?;
    let dongchang = find("东昌居民区党总支").await?;
    let building = find("金茂大厦楼宇联合党支部").await?;
    define_categories(
        grid,
        &[
            ("city.garbage", "垃圾堆放", ClockKind::Calendar, 24),
            ("city.parking", "违规停车", ClockKind::Calendar, 4),
            ("social.dispute", "邻里纠纷", ClockKind::Working, 40),
        ],
    )
    .await?;
    let corner = |latitude: f64, longitude: f64| Point::new(latitude, longitude);
    let cell = grid
        .create_grid(
            "demo",
            None,
            &NewGrid {
                code: "PD-LJZ-MY1-01".into(),
                name: "梅园一村第一网格".into(),
                layer: Layer::SocialManagement,
                org_id: meiyuan.id.to_string(),
                org_path: OrgPath::of_unmoved_tree(meiyuan.path.clone()),
                polygon: [
                    (31.2330, 121.5140),
                    (31.2330, 121.5180),
                    (31.2300, 121.5180),
                    (31.2300, 121.5140),
                ]
                .into_iter()
                .map(|(lat, lng)| corner(lat, lng))
                .collect::<Result<_, _>>()
                .map_err(|e| demo_error("grid polygon", e))?,
            },
        )
        .await?;
    grid.assign_staff(
        &cell.id,
        "demo-grid-worker",
        "网格员周某",
        StaffRole::Worker,
    )
    .await?;
    grid.assign_staff(
        &cell.id,
        "demo-party-rep",
        "党代表吴某",
        StaffRole::PartyRepresentative,
    )
    .await?;

    let now = now_millis();
    let report = |category: &str, description: &str, kind: ReporterKind, reporter: &str| NewCase {
        category_code: category.into(),
        urgency: Urgency::Normal,
        description: description.into(),
        attributes: Default::default(),
        location: Point::new(31.2316, 121.5162).ok(),
        address: "浦东南路1088弄梅园一村".into(),
        grid_id: Some(cell.id.clone()),
        owner_org_id: meiyuan.id.to_string(),
        org_path: OrgPath::of_unmoved_tree(meiyuan.path.clone()),
        reporter_kind: kind,
        reporter: reporter.into(),
        contact: Some((vault.seal("13912340001"), mask_phone("13912340001"))),
        source: String::new(),
        external_id: String::new(),
        attachments: Vec::new(),
    };
    let step = |case_id: String, actor: &'static str, action: Action, note: &'static str| {
        let detail = ActionDetail {
            note: note.into(),
            ..ActionDetail::default()
        };
        async move { grid.act(&case_id, actor, &action, &detail, now).await }
    };
    grid.report(
        None,
        &report(
            "city.parking",
            "消防通道被私家车占用",
            ReporterKind::Resident,
            "demo-resident",
        ),
        now,
    )
    .await?;
    let garbage = grid
        .report(
            None,
            &report(
                "city.garbage",
                "12号楼楼道口堆放装修垃圾",
                ReporterKind::GridWorker,
                "demo-grid-worker",
            ),
            now,
        )
        .await?;
    step(garbage.id.clone(), "demo-centre", Action::Accept, "立案").await?;
    let dispatch = Action::Dispatch {
        handler_org_id: meiyuan.id.to_string(),
    };
    step(
        garbage.id.clone(),
        "demo-centre",
        dispatch,
        "请居委会协调物业清运",
    )
    .await?;
    let dispute = grid
        .report(
            None,
            &report(
                "social.dispute",
                "楼上漏水引发邻里矛盾",
                ReporterKind::PartyRepresentative,
                "demo-party-rep",
            ),
            now,
        )
        .await?;
    let dispatch = Action::Dispatch {
        handler_org_id: dongchang.id.to_string(),
    };
    for (actor, action, note) in [
        ("demo-centre", Action::Accept, "立案"),
        ("demo-centre", dispatch, "请东昌居民区调解工作室协助"),
        ("demo-mediator", Action::Start, "已约双方面谈"),
        ("demo-mediator", Action::Handle, "双方达成维修与赔偿协议"),
        ("demo-centre", Action::Verify { passed: true }, "回访确认"),
        ("demo-centre", Action::Close, "结案"),
    ] {
        step(dispute.id.clone(), actor, action, note).await?;
    }
    let evaluation = ActionDetail {
        comment: "调解及时，满意".into(),
        ..ActionDetail::default()
    };
    grid.act(
        &dispute.id,
        "demo-party-rep",
        &Action::Evaluate { satisfaction: 5 },
        &evaluation,
        now,
    )
    .await?;

    let wish = grid
        .collect_wish(
            "demo-grid-worker",
            None,
            &NewWish {
                title: "一台助行器".into(),
                description: "独居老人行动不便".into(),
                beneficiary_sealed: vault.seal("孙桂兰"),
                beneficiary_masked: mask_name("孙桂兰"),
                phone_sealed: None,
                phone_masked: String::new(),
                org_id: meiyuan.id.to_string(),
                org_path: OrgPath::of_unmoved_tree(meiyuan.path.clone()),
                claim_by: Some(now + 30 * 86_400_000),
            },
            now,
        )
        .await?;
    for to in [WishState::Verified, WishState::Published] {
        grid.advance_wish(&wish.id, to, WishChange::default(), now)
            .await?;
    }

    let need = grid
        .post_need(
            "demo-centre",
            None,
            &NewNeed {
                org_id: meiyuan.id.to_string(),
                org_path: OrgPath::of_unmoved_tree(meiyuan.path.clone()),
                title: "老年人智能手机培训".into(),
                description: "不少老人不会用手机挂号、缴费".into(),
                category: "助老".into(),
            },
            now,
        )
        .await?;
    let resource = grid
        .offer_resource(
            "demo-building-admin",
            None,
            &NewResource {
                provider: Provider::Org(building.id.to_string()),
                org_id: building.id.to_string(),
                org_path: OrgPath::of_unmoved_tree(building.path.clone()),
                title: "楼宇青年志愿者数字助老课堂".into(),
                description: "每月两次，每次两小时".into(),
                category: "助老".into(),
            },
            now,
        )
        .await?;
    grid.propose_project(
        ("demo-building-admin", None),
        Side::Resource,
        &need.id,
        &resource.id,
        "",
        "可在周六上午到居委会活动室授课",
        now,
    )
    .await?;
    Ok(3)
}

/// The property side of the demo district: Gaohang town's disclosure schedules, its company
/// managing Donggou New Village, its fee collection and public revenue for a quarter, the
/// maintenance fund's year, and a correction — all in the transparency log. Returns how many disclosures it published.
pub async fn load_property(
    org: &OrgStore,
    property: &PropertyStore,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let root = org.root().await?.ok_or("no district root")?;
    let find = |name: &'static str| {
        let root = root.clone();
        async move {
            let query = NameQuery::parse(name).map_err(|e| demo_error(name, e))?;
            let found = org
                .search(&root, &query, &SubtreeFilter::default(), None, 1)
                .await?;
            found
                .into_iter()
                .next()
                .ok_or_else(|| demo_error(name, "not in the demo tree"))
        }
    };
    let gaohang = find("高行镇党委").await?;
    let donggou = find("东沟新村居民区党总支").await?;
    let now = now_millis();
    // What Gaohang asks of its companies: the quarter's fees and public revenue, the fund's
    // year, the hotlines whenever they change.
    for (kind, frequency, due_days) in [
        (Kind::FeeCollection, Frequency::Quarterly, 15),
        (Kind::PublicRevenue, Frequency::Quarterly, 30),
        (Kind::MaintenanceFund, Frequency::Yearly, 60),
        (Kind::Hotlines, Frequency::OnChange, 0),
    ] {
        property
            .set_schedule(
                &Schedule {
                    org_id: gaohang.id.to_string(),
                    org_path: gaohang.path.clone(),
                    kind,
                    frequency,
                    due_days,
                    display_days: 365,
                },
                0,
            )
            .await?;
    }
    let company = property
        .create_company(
            "jiceng-demo",
            None,
            &NewCompany {
                name: "上海高行物业管理有限公司".into(),
                credit_code: "91310115MA1H7XYX0X".into(),
                org_id: gaohang.id.to_string(),
                org_path: OrgPath::of_unmoved_tree(gaohang.path.clone()),
                details: CompanyDetails {
                    supervision_hotline: "021-58681234".into(),
                    repair_hotline: "021-58685678".into(),
                    service_procedures: "报修后30分钟内响应，24小时内处置".into(),
                    ..CompanyDetails::default()
                },
                publishers: vec!["demo-property-publisher".into()],
            },
            now,
        )
        .await?;
    let compound = property
        .create_compound(
            "jiceng-demo",
            None,
            &NewCompound {
                name: "东沟新村".into(),
                address: "东沟路100弄".into(),
                org_id: donggou.id.to_string(),
                org_path: OrgPath::of_unmoved_tree(donggou.path.clone()),
                terms: vec![Term::running(&company.id, now)],
                owners_committee: "东沟新村业主委员会".into(),
                owners_chair: "陈某".into(),
            },
            now,
        )
        .await?;
    let period = |text: &str| Period::parse(text).map_err(|e| demo_error(text, e));
    let entry = |period: Period, content: Content| Entry {
        id: uuid::Uuid::now_v7().to_string(),
        compound_id: compound.id.clone(),
        company_id: company.id.clone(),
        period,
        content,
        supersedes_id: None,
        correction_reason: None,
        published_by: "demo-property-publisher".into(),
        published_at: now,
    };
    let collection = |billed_fen: i64| Content::FeeCollection {
        billed_fen,
        collected_fen: 3_950_000,
        households_billed: 420,
        households_paid: 391,
    };
    let first = property
        .publish(
            None,
            entry(period("2026-Q3")?, collection(4_200_000)),
            &donggou.path,
        )
        .await?;
    let revenue = Content::PublicRevenue {
        lines: vec![
            RevenueLine {
                source: "parking".into(),
                income_fen: 1_260_000,
                expense_fen: 310_000,
            },
            RevenueLine {
                source: "advertising".into(),
                income_fen: 180_000,
                expense_fen: 0,
            },
        ],
        balance_fen: 1_130_000,
    };
    property
        .publish(None, entry(period("2026-Q3")?, revenue), &donggou.path)
        .await?;
    let fund = Content::MaintenanceFund {
        opening_fen: 86_000_000,
        income_fen: 4_800_000,
        spending: vec![FundSpending {
            project: "5号楼屋面防水".into(),
            amount_fen: 2_350_000,
            approved_by: "业主大会".into(),
            approval_url: String::new(),
        }],
        closing_fen: 88_450_000,
    };
    property
        .publish(None, entry(period("2026")?, fund), &donggou.path)
        .await?;
    let mut correction = entry(period("2026-Q3")?, collection(4_260_000));
    correction.supersedes_id = Some(first.entry.id.clone());
    correction.correction_reason = Some("漏计两户商铺物业费".into());
    property.publish(None, correction, &donggou.path).await?;
    Ok(4)
}
