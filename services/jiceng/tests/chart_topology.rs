//! The Helm chart's `topology.json` (who consumes which events, which gRPC services each
//! service serves) says what the code does: a new event or service that the chart does not
//! route fails here, not in a district's cluster.

use std::collections::{BTreeMap, BTreeSet};

use jiceng_app::ServiceName;
use prost::Message;
use serde_json::Value;

const TOPOLOGY: &str = include_str!("../../../charts/jiceng/topology.json");

fn topology() -> BTreeMap<String, Value> {
    serde_json::from_str(TOPOLOGY).expect("topology.json is JSON")
}

fn consumed_in_code(service: ServiceName) -> BTreeSet<String> {
    let consumed: &[&str] = match service {
        ServiceName::Member => jiceng_member::CONSUMED_EVENTS,
        ServiceName::Grid => jiceng_grid::CONSUMED_EVENTS,
        ServiceName::Notify => jiceng_notify::org_events::CONSUMED,
        ServiceName::Property => jiceng_property::CONSUMED_EVENTS,
        ServiceName::Org => &[],
    };
    consumed.iter().map(|t| (*t).to_owned()).collect()
}

#[test]
fn the_chart_knows_every_service_and_no_other() {
    let names: BTreeSet<_> = topology().into_keys().collect();
    let services: BTreeSet<_> = ServiceName::ALL
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    assert_eq!(names, services);
}

#[test]
fn the_chart_routes_exactly_the_events_each_service_consumes() {
    let topology = topology();
    for service in ServiceName::ALL {
        let consumes = topology[service.as_str()]["consumes"]
            .as_object()
            .expect("consumes is an object");
        let mut routed = BTreeSet::new();
        for (publisher, types) in consumes {
            for event_type in types.as_array().expect("a list of event types") {
                let event_type = event_type.as_str().expect("an event type").to_owned();
                assert!(
                    event_type.starts_with(&format!("jiceng.{publisher}.v1.")),
                    "{event_type} is not {publisher}'s event"
                );
                routed.insert(event_type);
            }
        }
        assert_eq!(
            routed,
            consumed_in_code(service),
            "{}: the chart's event routes differ from the code's",
            service.as_str()
        );
    }
}

#[test]
fn the_chart_routes_every_public_grpc_service_and_no_internal_one() {
    let mut routed = BTreeSet::new();
    for (service, entry) in topology() {
        for name in entry["grpcServices"].as_array().expect("a list") {
            let name = name.as_str().expect("a name");
            assert!(
                name.starts_with(&format!("jiceng.{service}.v1.")),
                "{name} is not served by {service}"
            );
            routed.insert(name.to_owned());
        }
    }
    let descriptors = prost_types::FileDescriptorSet::decode(jiceng_proto::FILE_DESCRIPTOR_SET)
        .expect("the compiled descriptor set");
    let served: BTreeSet<String> = descriptors
        .file
        .iter()
        .flat_map(|file| {
            let package = file.package().to_owned();
            file.service
                .iter()
                .map(move |service| format!("{package}.{}", service.name()))
        })
        .filter(|name| !name.starts_with("jiceng.events."))
        .collect();
    assert_eq!(routed, served);
}

#[test]
fn the_chart_routes_each_services_http_paths_to_it() {
    let routes = jiceng_gateway::HttpRoutes::all().expect("the contracts' HTTP rules");
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for route in routes.iter() {
        let service = route
            .grpc_path
            .strip_prefix("/jiceng.")
            .and_then(|rest| rest.split('.').next())
            .expect("a platform RPC");
        expected
            .entry(service.to_owned())
            .or_default()
            .insert(route.template.collection());
    }
    for (service, entry) in topology() {
        let routed: BTreeSet<String> = entry["httpPaths"]
            .as_array()
            .expect("httpPaths is a list")
            .iter()
            .map(|p| p.as_str().expect("a path").to_owned())
            .collect();
        assert_eq!(
            routed,
            expected.remove(&service).unwrap_or_default(),
            "{service}: the chart's HTTP paths differ from its routes' first segments"
        );
    }
    assert!(
        expected.is_empty(),
        "HTTP routes of no service: {expected:?}"
    );
}
