//! The batch iterator.

use datasets::batch::Batches;
use tch::{Device, Tensor};

fn rows(batches: Batches) -> Vec<Vec<i64>> {
    batches.map(|b| Vec::<i64>::try_from(&b[0]).unwrap()).collect()
}

#[test]
fn batches_cover_every_row_once_in_a_seeded_order() {
    let x = Tensor::arange(10, (tch::Kind::Int64, Device::Cpu));
    let y = &x * 100;
    let ordered = rows(Batches::new(&[&x, &y], 4, None, false, Device::Cpu).unwrap());
    assert_eq!(ordered, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    let dropped = Batches::new(&[&x], 4, None, true, Device::Cpu).unwrap();
    assert_eq!(dropped.batches(), 2);
    assert_eq!(rows(dropped).len(), 2);

    let shuffled = rows(Batches::new(&[&x], 3, Some((7, 0)), false, Device::Cpu).unwrap());
    assert_eq!(shuffled, rows(Batches::new(&[&x], 3, Some((7, 0)), false, Device::Cpu).unwrap()));
    assert_ne!(
        shuffled,
        rows(Batches::new(&[&x], 3, Some((7, 1)), false, Device::Cpu).unwrap()),
        "each epoch has its order"
    );
    let mut all: Vec<i64> = shuffled.concat();
    assert_ne!(all, (0..10).collect::<Vec<_>>());
    all.sort();
    assert_eq!(all, (0..10).collect::<Vec<_>>());

    // Rows of the tensors stay paired, and resuming mid-epoch skips whole batches.
    for batch in Batches::new(&[&x, &y], 3, Some((1, 2)), false, Device::Cpu).unwrap() {
        assert!((&batch[0] * 100).equal(&batch[1]));
    }
    let resumed =
        rows(Batches::new(&[&x], 3, Some((7, 0)), false, Device::Cpu).unwrap().skip_batches(2));
    assert_eq!(resumed, shuffled[2..]);
}

#[test]
fn bad_batch_arguments_are_errors() {
    let x = Tensor::zeros([5, 2], (tch::Kind::Float, Device::Cpu));
    let y = Tensor::zeros([4], (tch::Kind::Float, Device::Cpu));
    assert!(Batches::new(&[&x, &y], 2, None, false, Device::Cpu)
        .unwrap_err()
        .to_string()
        .contains("first dimension"));
    assert!(Batches::new(&[&x], 0, None, false, Device::Cpu)
        .unwrap_err()
        .to_string()
        .contains("at least 1"));
}
