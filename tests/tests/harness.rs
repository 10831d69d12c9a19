//! The harness itself against the real clusters: what the tool tests rely on.

use e2e_tests::*;

#[test]
fn produce_and_read_back_every_kind_of_record() {
    let source = source();
    let topic = unique("harness");
    source.create_topic(&topic, 2, &[]);
    let mut tombstone = TestRecord::new(1, "k", "");
    tombstone.value = None;
    tombstone.timestamp = Some(1_600_000_000_000);
    tombstone.headers = vec![("h".into(), Some(b"1".to_vec())), ("h".into(), None)];
    let records = vec![
        TestRecord::new(0, "a", "1"),
        TestRecord::new(0, "b", "2"),
        tombstone,
    ];
    source.produce(&topic, &records);
    let back = source.read_all(&topic);
    assert_eq!(back.len(), 3);
    assert_eq!(back[0].key.as_deref(), Some(&b"a"[..]));
    assert_eq!((back[1].partition, back[1].offset), (0, 1));
    assert_eq!(back[2].value, None);
    assert_eq!(back[2].timestamp, Some(1_600_000_000_000));
    assert_eq!(back[2].headers, records[2].headers);
    assert_eq!(source.watermarks(&topic), vec![(0, 0, 2), (1, 0, 1)]);
}

#[test]
fn committed_offsets_round_trip() {
    let source = source();
    let topic = unique("harness-commit");
    let group = unique("harness-group");
    source.create_topic(&topic, 2, &[]);
    source.produce(
        &topic,
        &[TestRecord::new(0, "a", "1"), TestRecord::new(0, "b", "2")],
    );
    source.commit_offsets(&group, &[(&topic, 0, 1)]);
    assert_eq!(
        source.committed_offsets(&group, &topic, 2),
        vec![Some(1), None]
    );
}
