//! The public contracts document themselves: every RPC, and every field a caller can send (the
//! fields of each request message and of the messages it carries), has a comment in its
//! `.proto`, which is where an integrator reads what is required, in what format, and who may
//! call. Read from the descriptor set the services serve over reflection, so the check sees
//! exactly what an integrator sees.

use std::collections::{BTreeSet, HashMap};

use prost::Message;
use prost_types::{
    DescriptorProto, FileDescriptorProto, FileDescriptorSet, field_descriptor_proto::Type,
};

/// Field numbers of `FileDescriptorProto`, `DescriptorProto` and `ServiceDescriptorProto`
/// that make up a `SourceCodeInfo` location path.
const FILE_MESSAGES: i32 = 4;
const FILE_SERVICES: i32 = 6;
const MESSAGE_FIELDS: i32 = 2;
const MESSAGE_NESTED: i32 = 3;
const SERVICE_METHODS: i32 = 2;

struct Contracts {
    /// Each message's full name (`.jiceng.org.v1.Unit`): its descriptor and the path of its
    /// comments' location in its file.
    messages: HashMap<String, (DescriptorProto, Vec<i32>, String)>,
    /// Each file's commented location paths.
    commented: HashMap<String, BTreeSet<Vec<i32>>>,
}

fn commented_paths(file: &FileDescriptorProto) -> BTreeSet<Vec<i32>> {
    file.source_code_info
        .iter()
        .flat_map(|info| &info.location)
        .filter(|l| {
            !l.leading_comments().trim().is_empty() || !l.trailing_comments().trim().is_empty()
        })
        .map(|l| l.path.clone())
        .collect()
}

fn index_messages(
    file: &str,
    scope: &str,
    messages: &[DescriptorProto],
    path: &[i32],
    tag: i32,
    into: &mut HashMap<String, (DescriptorProto, Vec<i32>, String)>,
) {
    for (i, message) in messages.iter().enumerate() {
        let name = format!("{scope}.{}", message.name());
        let mut at = path.to_vec();
        at.extend([tag, i32::try_from(i).expect("few messages")]);
        index_messages(file, &name, &message.nested_type, &at, MESSAGE_NESTED, into);
        into.insert(name, (message.clone(), at, file.to_owned()));
    }
}

fn contracts() -> (Contracts, Vec<FileDescriptorProto>) {
    let set = FileDescriptorSet::decode(jiceng_proto::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut messages = HashMap::new();
    let mut commented = HashMap::new();
    for file in &set.file {
        let scope = format!(".{}", file.package());
        index_messages(
            file.name(),
            &scope,
            &file.message_type,
            &[],
            FILE_MESSAGES,
            &mut messages,
        );
        commented.insert(file.name().to_owned(), commented_paths(file));
    }
    let public = set
        .file
        .into_iter()
        .filter(|f| f.name().starts_with("jiceng/") && !f.service.is_empty())
        .collect();
    (
        Contracts {
            messages,
            commented,
        },
        public,
    )
}

#[test]
fn every_rpc_and_request_field_of_the_public_contracts_has_a_comment() {
    let (contracts, public) = contracts();
    let mut missing = Vec::new();
    let mut requests = Vec::new();
    for file in &public {
        let commented = &contracts.commented[file.name()];
        for (s, service) in file.service.iter().enumerate() {
            for (m, method) in service.method.iter().enumerate() {
                let path = vec![
                    FILE_SERVICES,
                    i32::try_from(s).expect("few services"),
                    SERVICE_METHODS,
                    i32::try_from(m).expect("few methods"),
                ];
                if !commented.contains(&path) {
                    missing.push(format!(
                        "{}: rpc {}.{}",
                        file.name(),
                        service.name(),
                        method.name()
                    ));
                }
                requests.push(method.input_type().to_owned());
            }
        }
    }
    // Every field a caller can send: request messages and, transitively, the jiceng messages
    // they carry (a compound created with its terms is described field by field).
    let mut seen = BTreeSet::new();
    while let Some(name) = requests.pop() {
        if !name.starts_with(".jiceng.") || !seen.insert(name.clone()) {
            continue;
        }
        let (message, at, file) = &contracts.messages[&name];
        let commented = &contracts.commented[file];
        // A map's entry message is protoc's own, with nowhere to write a comment: the map field
        // says what its keys and values are.
        let map_entry = message.options.as_ref().is_some_and(|o| o.map_entry());
        for (f, field) in message.field.iter().enumerate() {
            let mut path = at.clone();
            path.extend([MESSAGE_FIELDS, i32::try_from(f).expect("few fields")]);
            if !map_entry && !commented.contains(&path) {
                missing.push(format!("{file}: {}.{}", &name[1..], field.name()));
            }
            if field.r#type() == Type::Message {
                requests.push(field.type_name().to_owned());
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "{} RPCs and request fields have no comment; say what each is, what it requires \
         and in what format:\n{}",
        missing.len(),
        missing.join("\n")
    );
    assert!(seen.len() > 100, "the check reached the request messages");
}
