//! The Ding dictionary's parser: annotations removed, sub-entries aligned across the sides,
//! alternatives paired with the other side's first.

use datasets::ding::{clean, parse};

fn pairs(text: &str) -> Vec<(String, String)> {
    parse(text).pairs.into_iter().map(|p| (p.first, p.second)).collect()
}

#[test]
fn annotations_are_removed() {
    assert_eq!(clean("Aalreuse {f}"), "Aalreuse");
    assert_eq!(clean("weel [archaic] <weely>"), "weel");
    assert_eq!(clean("(chemischer) Abbau {m}"), "Abbau");
    assert_eq!(clean("in forma pauperis /IFP/ ~legal aid"), "in forma pauperis");
    assert_eq!(clean("Armenrecht {n} [jur.] ~Prozesskostenhilfe"), "Armenrecht");
    assert_eq!(clean("Er war ein Opfer der Umstände."), "Er war ein Opfer der Umstände.");
    assert_eq!(clean("{f} [x]"), "");
}

#[test]
fn sub_entries_align_and_alternatives_pair_with_the_first() {
    let got = pairs(
        "# comment :: not an entry\n\
         Aalreuse {f}; Aalkorb {m} | Aalreusen {pl}; Aalkörbe {pl} :: eel trap; weel [archaic] <weely> | eel traps; weels\n",
    );
    let want = [
        ("Aalreuse", "eel trap"),
        ("Aalkorb", "eel trap"),
        ("Aalreuse", "weel"),
        ("Aalreusen", "eel traps"),
        ("Aalkörbe", "eel traps"),
        ("Aalreusen", "weels"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[test]
fn malformed_entries_are_counted_and_skipped() {
    let dict = parse("a | b :: c\nno separator\nHaus {n} :: house\nHaus {n} :: house\n");
    assert_eq!((dict.entries, dict.skipped), (4, 2));
    assert_eq!(dict.pairs.len(), 1, "duplicates are dropped");
}
