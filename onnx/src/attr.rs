//! Reading and writing node attributes.

use super::pb::{attribute_proto::AttributeType, AttributeProto, NodeProto};

/// The attribute called `name`, if present.
pub fn get<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name() == name)
}

/// An INT attribute.
pub fn int(node: &NodeProto, name: &str) -> Option<i64> {
    get(node, name).and_then(|a| a.i)
}

/// An INTS attribute.
pub fn ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    get(node, name).map(|a| a.ints.clone())
}

/// A FLOAT attribute.
pub fn float(node: &NodeProto, name: &str) -> Option<f32> {
    get(node, name).and_then(|a| a.f)
}

/// A STRING attribute, decoded as UTF-8 (lossy).
pub fn string(node: &NodeProto, name: &str) -> Option<String> {
    get(node, name)
        .and_then(|a| a.s.as_ref())
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

/// Build an INTS attribute.
pub fn make_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// Build an INT attribute.
pub fn make_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

/// Build a FLOAT attribute.
pub fn make_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(v),
        ..Default::default()
    }
}

/// Build a STRING attribute.
pub fn make_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(v.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// Replace (or add) an attribute on a node.
pub fn set(node: &mut NodeProto, attr: AttributeProto) {
    match node.attribute.iter_mut().find(|a| a.name == attr.name) {
        Some(slot) => *slot = attr,
        None => node.attribute.push(attr),
    }
}

/// Remove an attribute if present.
pub fn remove(node: &mut NodeProto, name: &str) {
    node.attribute.retain(|a| a.name() != name);
}

/// Build a node.
pub fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(name.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}
