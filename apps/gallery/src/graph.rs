//! The talk's graph, `c = a + b, d = b + 1, y = c * d`: forward values and the gradients one
//! backward walk gives, for any inputs the page sends (the `basics` app's own tape).

use crate::api::{within_f64, ApiError};
use axum::extract::rejection::JsonRejection;
use axum::Json;
use basics::tape::Var;
use serde::{Deserialize, Serialize};

/// The inputs.
#[derive(Debug, Deserialize)]
pub struct Inputs {
    /// `a`.
    pub a: f64,
    /// `b`.
    pub b: f64,
}

/// One node of the graph.
#[derive(Debug, Serialize)]
pub struct Node {
    /// Its name in the talk.
    pub name: &'static str,
    /// How it is computed.
    pub formula: &'static str,
    /// Its value in the forward pass.
    pub value: f64,
    /// `dy/d(node)` from the backward pass.
    pub gradient: f64,
}

/// `POST /api/graph` with `{"a": 2, "b": 1}`: the nodes `a, b, c, d, y` in evaluation order.
pub async fn graph(
    inputs: Result<Json<Inputs>, JsonRejection>,
) -> Result<Json<Vec<Node>>, ApiError> {
    let Json(inputs) = inputs?;
    let a = within_f64("a", inputs.a, -1e6..=1e6)?;
    let b = within_f64("b", inputs.b, -1e6..=1e6)?;
    let (tape, nodes) = basics::backprop::talks_graph(a, b);
    let y: Var = nodes[4];
    let gradients = tape.gradients(y);
    let names = [("a", "input"), ("b", "input"), ("c", "a + b"), ("d", "b + 1"), ("y", "c * d")];
    Ok(Json(
        (names.iter().zip(nodes))
            .map(|(&(name, formula), v)| Node {
                name,
                formula,
                value: tape.value(v),
                gradient: gradients.wrt(v),
            })
            .collect(),
    ))
}
