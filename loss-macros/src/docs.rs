//! The formula and its derived gradient as text, for the struct's rustdoc and the registry.

use std::collections::HashMap;

use crate::expand::Formula;
use crate::lower::Lowered;
use crate::symbolic::{Names, NodeId, render_program};

pub fn formula(
    lowered: &Lowered,
    names: &HashMap<NodeId, String>,
    value: NodeId,
    grad: NodeId,
    (params, bool_params): &(Vec<String>, Vec<String>),
) -> Formula {
    let names = Names {
        params: params.clone(),
        bool_params: bool_params.clone(),
        externs: lowered
            .externs
            .iter()
            .map(|e| e.to_string().replace(' ', ""))
            .collect(),
        nodes: names.clone(),
    };
    let value_lines = render_program(&lowered.graph, &[("loss", value)], &names);
    let grad_lines = render_program(&lowered.graph, &[("d_loss", grad)], &names);
    let mut text = String::new();
    for line in value_lines {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str("\nd_loss = d loss / d y_pred:\n");
    for line in grad_lines {
        text.push_str(&line);
        text.push('\n');
    }
    Formula { text }
}
