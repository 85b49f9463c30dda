//! What every contract keeps to, checked on the compiled descriptor set: a list pages (AIP-158).

use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorSet, field_descriptor_proto::Type};

fn messages(set: &FileDescriptorSet) -> Vec<(String, &DescriptorProto)> {
    set.file
        .iter()
        .flat_map(|file| {
            file.message_type
                .iter()
                .map(move |message| (format!(".{}.{}", file.package(), message.name()), message))
        })
        .collect()
}

#[test]
fn every_list_pages() {
    let set = FileDescriptorSet::decode(jiceng_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let messages = messages(&set);
    let message = |name: &str| {
        messages
            .iter()
            .find(|(full, _)| full == name)
            .map(|(_, message)| *message)
            .unwrap_or_else(|| panic!("no message {name}"))
    };
    let has = |message: &DescriptorProto, name: &str, kind: Type| {
        message
            .field
            .iter()
            .any(|field| field.name() == name && field.r#type() == kind)
    };
    let mut lists = 0;
    for file in set
        .file
        .iter()
        .filter(|f| f.package().starts_with("jiceng."))
    {
        for service in &file.service {
            for rpc in service
                .method
                .iter()
                .filter(|m| m.name().starts_with("List"))
            {
                lists += 1;
                let (input, output) = (message(rpc.input_type()), message(rpc.output_type()));
                let name = format!("{}.{}", service.name(), rpc.name());
                assert!(has(input, "page_size", Type::Int32), "{name}: no page_size");
                assert!(
                    has(input, "page_token", Type::String),
                    "{name}: no page_token"
                );
                assert!(
                    has(output, "next_page_token", Type::String),
                    "{name}: no next_page_token"
                );
            }
        }
    }
    assert!(lists >= 40, "only {lists} lists found");
}
