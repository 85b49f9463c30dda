//! `jiceng up --demo`: a sample Pudong tree written through the org store — the district, a few
//! streets and towns with residential committees and branches, and Beicai town's five-level grid
//! network — so that a first call has something to read.

use jiceng_org::{
    OrgStore,
    domain::{Unit, UnitId, UnitKind, UnitName},
    store::{Mutation, StoreError},
};

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
    let mut created = 0;
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
        created += 1 + create_all(store, &mutation, &unit, children).await?;
    }
    Ok(created)
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
) -> Result<usize, StoreError> {
    let mut created = 0;
    let mut stack: Vec<(Unit, Node)> = nodes.into_iter().map(|n| (parent.clone(), n)).collect();
    while let Some((parent, node)) = stack.pop() {
        let unit = create(store, mutation, &parent, node.kind, node.name).await?;
        created += 1;
        stack.extend(node.children.into_iter().map(|child| (unit.clone(), child)));
    }
    Ok(created)
}
