use std::time::Instant;
use strata_segment::{write_segment, SegmentOptions, SegmentRow, SkipIndex};
use strata_types::{event_id, AttrValue, Event, Status};
const BASE: i64 = 1_699_999_200_000_000_000;
#[test]
#[ignore]
fn cost() {
    let n = 200_000u64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || { x ^= x >> 12; x ^= x << 25; x ^= x >> 27; x.wrapping_mul(0x2545_f491_4f6c_dd1d) };
    let words = ["GET","POST","/api/v1/users","/checkout/cart","completed","failed","Connection","refused","timeout","upstream","user","session","request","database","query","took","cache","miss","hit","retrying"];
    let rows: Vec<SegmentRow> = (0..n).map(|i| {
        let mut msg = String::new();
        for _ in 0..12 { msg.push_str(words[(next() % 20) as usize]); msg.push(' '); }
        msg.push_str(&format!("id={:x} ip=10.0.{}.{} latency={}ms", next(), next()%256, next()%256, next()%1000));
        if i % 50 == 0 { msg.push_str(" Ünïcode"); }
        let mut e = Event::new(BASE + i as i64, msg);
        e.service = Some(format!("svc-{}", next() % 8));
        e.host = Some(format!("host-{}", next() % 40));
        e.status = Status::Info;
        e.trace_id = Some(format!("{:x}", next()));
        e.tags = vec!["env:prod".into(), format!("team:{}", next()%5)];
        e.attributes = vec![
            ("http.status_code".into(), AttrValue::Int((next()%5) as i64 * 100 + 200)),
            ("http.method".into(), AttrValue::Str(["GET","POST"][(next()%2) as usize].into())),
            ("duration".into(), AttrValue::Float((next()%10000) as f64 / 7.0)),
            ("usr.id".into(), AttrValue::Str(format!("u{}", next()%100000))),
        ];
        SegmentRow { id: event_id(i, 0), event: e }
    }).collect();
    let bytes: usize = rows.iter().map(|r| r.event.message.len()).sum();
    println!("avg message {} bytes", bytes as u64 / n);
    for _ in 0..3 {
        let t = Instant::now();
        let idx = SkipIndex::build(rows.iter().map(|r| &r.event));
        let b = t.elapsed();
        let t = Instant::now();
        let enc = idx.to_metadata_value();
        let e = t.elapsed();
        println!("build {:?} ({:.0} ns/event), encode {:?}, value {} bytes, token filter {} bytes fpp {:.4}, trace filter {}", b, b.as_nanos() as f64 / n as f64, e, enc.len(), idx.message_filter_bytes(), idx.message_filter_fpp(), idx.trace_id_filter_bytes());
        let t = Instant::now();
        let idx2 = SkipIndex::build(rows.iter().map(|r| &r.event).filter(|e| e.trace_id.is_some()).take(0));
        let _ = idx2;
        let _ = t;
    }
    let msg_only: Vec<Event> = rows.iter().map(|r| Event::new(r.event.timestamp_ns, r.event.message.clone())).collect();
    let no_msg: Vec<Event> = rows.iter().map(|r| { let mut e = r.event.clone(); e.message = String::new(); e }).collect();
    let no_attr: Vec<Event> = rows.iter().map(|r| { let mut e = r.event.clone(); e.message = String::new(); e.attributes.clear(); e }).collect();
    for (name, evs) in [("messages only", &msg_only), ("no message", &no_msg), ("no message no attrs", &no_attr)] {
        for _ in 0..2 {
            let t = Instant::now();
            let idx = SkipIndex::build(evs.iter());
            let b = t.elapsed();
            println!("{name}: {:.0} ns/event {}", b.as_nanos() as f64 / n as f64, idx.message_filter_bytes());
        }
    }
    for _ in 0..3 {
        let t = Instant::now();
        let mut out = Vec::new();
        write_segment(rows.clone(), &SegmentOptions::default(), &mut out).unwrap();
        let w = t.elapsed();
        println!("write_segment {:?} ({:.0} ns/event) {} bytes", w, w.as_nanos() as f64 / n as f64, out.len());
    }
}
