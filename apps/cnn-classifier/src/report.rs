//! Pictures and tables of a trained network: the confusion matrix, per-class accuracy, and the
//! first layer's filters (the talk's claim that they become edge detectors, made visible).

use crate::infer::Classifier;
use crate::train::Evaluation;
use anyhow::{Context, Result};
use std::path::Path;

/// Prints overall and per-class accuracy and the confusion matrix.
pub fn print_evaluation(eval: &Evaluation, classes: &[String]) {
    let total: i64 = eval.confusion.iter().flatten().sum();
    println!("accuracy {:.2}% on {total} images (loss {:.4})", 100.0 * eval.accuracy, eval.loss);
    println!("{:<14} {:>8} {:>8}", "class", "images", "accuracy");
    for (i, (class, row)) in classes.iter().zip(&eval.confusion).enumerate() {
        let n: i64 = row.iter().sum();
        println!("{class:<14} {n:>8} {:>7.2}%", 100.0 * row[i] as f64 / n.max(1) as f64);
    }
    println!("confusion matrix (rows: true class, columns: predicted):");
    let width = classes.iter().map(|c| c.len()).max().unwrap_or(1).clamp(5, 12);
    print!("{:>width$}", "");
    for c in classes {
        print!(" {:>6}", truncate(c, 6));
    }
    println!();
    for (class, row) in classes.iter().zip(&eval.confusion) {
        print!("{:>width$}", truncate(class, width));
        for v in row {
            print!(" {v:>6}");
        }
        println!();
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Saves the confusion matrix as a PNG heatmap.
pub fn save_confusion(
    eval: &Evaluation,
    classes: &[String],
    title: &str,
    path: &Path,
) -> Result<()> {
    let values: Vec<Vec<f64>> =
        eval.confusion.iter().map(|r| r.iter().map(|v| *v as f64).collect()).collect();
    harness::plot::heatmap(
        path,
        title,
        ("true class", "predicted class"),
        classes,
        classes,
        &values,
    )?;
    Ok(())
}

/// Saves the first convolution's filters as a grid of images (8 per row, each pixel 8x8).
pub fn save_filters(trained: &Classifier, path: &Path) -> Result<usize> {
    let filters = trained
        .net
        .first_filters()
        .context("the mlp has no convolutional filters; train a cnn or resnet")?;
    let n = filters.size()[0] as usize;
    harness::plot::image_grid(path, &filters.detach(), 8, 8)?;
    Ok(n)
}
