//! The HTTP routes of the contracts: every RPC's `google.api.http` rule, read from the compiled
//! descriptor set, so that the protos are the one place a route is written.

use std::sync::Arc;

use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, MessageDescriptor, MethodDescriptor, Value,
};

use crate::template::{Binding, PathTemplate};

/// Where an HTTP request's body goes in the request message.
#[derive(Clone, Debug)]
pub enum BodyRule {
    /// No body (GET, DELETE): every field not in the path comes from the query string.
    None,
    /// `body: "*"`: the body is the whole request message, less the path's fields.
    Whole,
    /// `body: "field"`: the body is that field.
    Field(FieldDescriptor),
}

/// One RPC reachable over HTTP.
#[derive(Clone, Debug)]
pub struct HttpRoute {
    pub method: http::Method,
    pub template: PathTemplate,
    /// The gRPC path it calls: `/jiceng.org.v1.OrgService/GetUnit`.
    pub grpc_path: String,
    pub body: BodyRule,
    pub input: MessageDescriptor,
    pub output: MessageDescriptor,
    pub server_streaming: bool,
    /// The RPC, for documents generated from the routes.
    pub rpc: MethodDescriptor,
}

/// Why a request has no route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRoute {
    /// No template matches the path.
    NotFound,
    /// A template matches, for other HTTP methods.
    MethodNotAllowed,
}

/// The routes of a set of services, tried in a fixed order: templates with a custom verb first,
/// then by how many literal segments they have.
#[derive(Clone, Debug)]
pub struct HttpRoutes {
    routes: Arc<Vec<HttpRoute>>,
    pool: DescriptorPool,
}

impl HttpRoutes {
    /// The routes of every service in the descriptor set.
    pub fn all() -> Result<Self, String> {
        Self::build(|_| true)
    }

    /// The routes of the named services (full gRPC names), those a process serves.
    pub fn for_services(names: &[&str]) -> Result<Self, String> {
        Self::build(|service| names.contains(&service))
    }

    fn build(include: impl Fn(&str) -> bool) -> Result<Self, String> {
        let pool = crate::descriptor_pool()?;
        let http = pool
            .get_extension_by_name("google.api.http")
            .ok_or("the descriptor set lacks google.api.http")?;
        let mut routes = Vec::new();
        for service in pool.services().filter(|s| include(s.full_name())) {
            for rpc in service.methods() {
                let options = rpc.options();
                if !options.has_extension(&http) {
                    continue;
                }
                let Value::Message(rule) = options.get_extension(&http).into_owned() else {
                    return Err(format!(
                        "{}: google.api.http is not a rule",
                        rpc.full_name()
                    ));
                };
                add_rule(&mut routes, &rpc, &rule)
                    .map_err(|why| format!("{}: {why}", rpc.full_name()))?;
            }
        }
        routes.sort_by_key(|route: &HttpRoute| {
            (
                !route.template.has_verb(),
                std::cmp::Reverse(route.template.literal_count()),
            )
        });
        Ok(Self {
            routes: Arc::new(routes),
            pool,
        })
    }

    /// The route for a request, with the values its path binds.
    pub fn find(
        &self,
        method: &http::Method,
        path: &str,
    ) -> Result<(&HttpRoute, Vec<Binding>), NoRoute> {
        let mut path_matched = false;
        for route in self.routes.iter() {
            if let Some(bindings) = route.template.matches(path) {
                if route.method == method {
                    return Ok((route, bindings));
                }
                path_matched = true;
            }
        }
        Err(if path_matched {
            NoRoute::MethodNotAllowed
        } else {
            NoRoute::NotFound
        })
    }

    /// Every route, in the order they are tried.
    pub fn iter(&self) -> impl Iterator<Item = &HttpRoute> {
        self.routes.iter()
    }

    /// The descriptors the routes' messages are read and written with.
    pub fn pool(&self) -> &DescriptorPool {
        &self.pool
    }
}

fn add_rule(
    routes: &mut Vec<HttpRoute>,
    rpc: &MethodDescriptor,
    rule: &DynamicMessage,
) -> Result<(), String> {
    let text = |name: &str| match rule.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let verbs = [
        ("get", http::Method::GET),
        ("put", http::Method::PUT),
        ("post", http::Method::POST),
        ("delete", http::Method::DELETE),
        ("patch", http::Method::PATCH),
    ];
    let (method, template) = verbs
        .into_iter()
        .find_map(|(name, method)| text(name).map(|path| (method, path)))
        .ok_or("a rule without a method and path")?;
    let template = PathTemplate::parse(&template)?;
    let input = rpc.input();
    for variable in template.variables() {
        field_at(&input, variable)
            .ok_or_else(|| format!("`{template}` binds `{}`, not a field", variable.join(".")))?;
    }
    let body = match text("body").as_deref() {
        None => BodyRule::None,
        Some("*") => BodyRule::Whole,
        Some(name) => BodyRule::Field(
            input
                .get_field_by_name(name)
                .ok_or_else(|| format!("body `{name}` is not a field"))?,
        ),
    };
    if text("response_body").is_some() {
        return Err("response_body is not supported".to_owned());
    }
    routes.push(HttpRoute {
        method,
        template,
        grpc_path: format!("/{}/{}", rpc.parent_service().full_name(), rpc.name()),
        body,
        input,
        output: rpc.output(),
        server_streaming: rpc.is_server_streaming(),
        rpc: rpc.clone(),
    });
    if let Some(Value::List(more)) = rule.get_field_by_name("additional_bindings").as_deref() {
        for binding in more {
            if let Value::Message(binding) = binding {
                add_rule(routes, rpc, binding)?;
            }
        }
    }
    Ok(())
}

/// The field a dotted path names, through singular messages.
fn field_at(message: &MessageDescriptor, path: &[String]) -> Option<FieldDescriptor> {
    let (name, rest) = path.split_first()?;
    let field = message.get_field_by_name(name)?;
    if rest.is_empty() {
        return (!field.is_list() && !field.is_map()).then_some(field);
    }
    match field.kind() {
        prost_reflect::Kind::Message(inner) if !field.is_list() => field_at(&inner, rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_in_the_contracts_reads() {
        let routes = HttpRoutes::all().expect("every rule reads");
        assert!(routes.iter().count() > 150, "{}", routes.iter().count());
    }

    #[test]
    fn no_two_routes_answer_the_same_request() {
        let routes = HttpRoutes::all().expect("the rules");
        let mut seen = std::collections::BTreeMap::new();
        for route in routes.iter() {
            let key = (route.method.to_string(), route.template.to_string());
            if let Some(other) = seen.insert(key, route.grpc_path.clone()) {
                panic!("{} and {other} share {}", route.grpc_path, route.template);
            }
        }
    }

    #[test]
    fn a_verb_route_wins_over_a_variable_that_would_take_the_verb() {
        let routes = HttpRoutes::all().expect("the rules");
        let (route, bindings) = routes
            .find(&http::Method::GET, "/v1/units/u1:subtree")
            .expect("a route");
        assert_eq!(route.grpc_path, "/jiceng.org.v1.OrgService/ListSubtree");
        assert_eq!(
            bindings,
            vec![(vec!["root_id".to_owned()], "u1".to_owned())]
        );
        let (route, _) = routes
            .find(&http::Method::GET, "/v1/units/u1")
            .expect("a route");
        assert_eq!(route.grpc_path, "/jiceng.org.v1.OrgService/GetUnit");
        assert_eq!(
            routes.find(&http::Method::PUT, "/v1/units/u1").err(),
            Some(NoRoute::MethodNotAllowed)
        );
        assert_eq!(
            routes.find(&http::Method::GET, "/v1/planets").err(),
            Some(NoRoute::NotFound)
        );
    }

    #[test]
    fn a_process_routes_only_its_own_services() {
        let routes = HttpRoutes::for_services(&["jiceng.grid.v1.CaseService"]).expect("the rules");
        assert!(
            routes
                .iter()
                .all(|r| r.grpc_path.starts_with("/jiceng.grid.v1.CaseService/"))
        );
        assert!(routes.find(&http::Method::GET, "/v1/units/u1").is_err());
    }

    #[test]
    fn internal_rpcs_have_no_route() {
        let routes = HttpRoutes::all().expect("the rules");
        for internal in [
            "/jiceng.events.v1.EventSinkService/Deliver",
            "/jiceng.org.v1.OrgService/GetTreeGeneration",
            "/jiceng.org.v1.WitnessService/WitnessTreeHead",
        ] {
            assert!(
                routes.iter().all(|r| r.grpc_path != internal),
                "{internal} is for the platform's own services only"
            );
        }
    }
}
