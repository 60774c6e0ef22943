//! A scripted misbehaving peer injecting raw frames into a host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tblink_proto::{
    Duration, Event, Host, HostConfig, Instant, PeerError, ProtoError, RequestKind,
};
use tblink_wire::ctl::FrameBuf;
use tblink_wire::property::Directory;
use tblink_wire::uuid::{Uuid, WireUuid, XDOMAIN_DISCOVERY};
use tblink_wire::xdomain::{Header, Seq};
use tblink_wire::{Pdf, Route};

const EVIL: Uuid = Uuid::from_u128(0xe411_0000_0000_4000_8000_0000_0000_0666);
const R: Route = Route::from_raw(1);

fn raw(pdf: Pdf, seq: Seq, ty: u32, payload: &[u8]) -> FrameBuf {
    let total = 32 + payload.len();
    let hdr = Header::for_body(R.with_cm(), seq, XDOMAIN_DISCOVERY, total).unwrap();
    FrameBuf::build(pdf, |b| {
        hdr.emit(b)?;
        b[28..32].copy_from_slice(&ty.to_be_bytes());
        b[32..total].copy_from_slice(payload);
        Ok(total)
    })
    .unwrap()
}

fn uuid_bytes(u: &Uuid) -> [u8; 16] {
    WireUuid::from_uuid(u).0
}

fn msg_type(f: &FrameBuf) -> u32 {
    u32::from_be_bytes(f.body()[28..32].try_into().unwrap())
}

fn seq(f: &FrameBuf) -> Seq {
    Header::parse(f.body()).unwrap().seq
}

fn props_offset(f: &FrameBuf) -> u16 {
    u16::from_be_bytes(f.body()[66..68].try_into().unwrap())
}

fn uuid_response(s: Seq) -> FrameBuf {
    let mut p = uuid_bytes(&EVIL).to_vec();
    p.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    raw(Pdf::XDOMAIN_RESP, s, 2, &p)
}

fn props_response(
    s: Seq,
    host: &Uuid,
    offset: u16,
    data_length: u16,
    generation: u32,
    data: &[u32],
) -> FrameBuf {
    let mut p = uuid_bytes(&EVIL).to_vec();
    p.extend_from_slice(&uuid_bytes(host));
    p.extend_from_slice(&((u32::from(data_length) << 16) | u32::from(offset)).to_be_bytes());
    p.extend_from_slice(&generation.to_be_bytes());
    for d in data {
        p.extend_from_slice(&d.to_be_bytes());
    }
    raw(Pdf::XDOMAIN_RESP, s, 4, &p)
}

fn pcr(s: Seq) -> FrameBuf {
    raw(Pdf::XDOMAIN_REQ, s, 5, &uuid_bytes(&EVIL))
}

/// Run a host against a scripted peer until nothing is pending or `limit`
/// simulated time passes. Returns every frame the host sent.
fn drive(
    host: &mut Host,
    now: &mut Instant,
    limit: Duration,
    mut peer: impl FnMut(&FrameBuf) -> Vec<FrameBuf>,
) -> Vec<FrameBuf> {
    let end = *now + limit;
    let mut sent = Vec::new();
    loop {
        while let Some(f) = host.poll_transmit() {
            for reply in peer(&f) {
                host.handle_frame(*now, &reply);
            }
            sent.push(f);
        }
        assert!(host.outstanding_requests() <= 2);
        match host.poll_timeout() {
            Some(t) if t <= end => {
                *now = (*now).max(t);
                host.handle_timeout(*now);
            }
            _ => return sent,
        }
    }
}

fn events(host: &mut Host) -> Vec<Event> {
    std::iter::from_fn(|| host.poll_event()).collect()
}

fn failure(ev: &[Event]) -> Option<ProtoError> {
    ev.iter().find_map(|e| match e {
        Event::DiscoveryFailed { error, .. } => Some(error.clone()),
        _ => None,
    })
}

/// A peer that answers UUID and serves `block` (with `data_length` and
/// generation as given) page by page.
fn serving(
    host_uuid: Uuid,
    block: Vec<u32>,
    data_length: u16,
) -> impl FnMut(&FrameBuf) -> Vec<FrameBuf> {
    move |f| match msg_type(f) {
        12 => vec![uuid_response(seq(f))],
        3 => {
            let off = props_offset(f);
            let start = usize::from(off).min(block.len());
            let end = (start + 45).min(block.len());
            vec![props_response(
                seq(f),
                &host_uuid,
                off,
                data_length,
                7,
                &block[start..end],
            )]
        }
        _ => vec![],
    }
}

fn valid_root(services: usize) -> Vec<u32> {
    let mut root = Directory::new();
    root.add_immediate("vendorid", 0x8086).unwrap();
    root.add_immediate("deviceid", 1).unwrap();
    for i in 0..services {
        let d = root
            .add_directory(format!("s{i}"), Uuid::from_u128(5))
            .unwrap();
        d.add_immediate("prtcid", 1).unwrap();
    }
    root.format().unwrap()
}

fn start() -> (Host, Instant) {
    let mut h = Host::new(HostConfig {
        max_services: 4,
        ..HostConfig::default()
    });
    let now = Instant::from_nanos(1_000);
    h.handle_xdomain_connected(now, R).unwrap();
    (h, now)
}

#[test]
fn malformed_frames_are_dropped_and_counted() {
    let (mut h, now) = start();
    let _ = drive(&mut h, &mut now.clone(), Duration::ZERO, |_| vec![]);
    // Bad CRC.
    let mut f = pcr(Seq::new(0));
    f.as_mut_bytes()[40] ^= 0x20;
    h.handle_frame(now, &f);
    assert_eq!(h.stats().crc_errors, 1);
    // Length field disagreeing with the frame size.
    let mut f = pcr(Seq::new(0));
    f.as_mut_bytes()[11] = 20;
    f.reseal().unwrap();
    h.handle_frame(now, &f);
    // Too short for the header, and a length field below 5.
    h.handle_frame(now, &FrameBuf::seal(Pdf::XDOMAIN_REQ, &[0; 16]).unwrap());
    let mut f = raw(Pdf::XDOMAIN_REQ, Seq::new(0), 12, &[]);
    f.as_mut_bytes()[11] = 4;
    let body: Vec<u8> = f.body()[..28].to_vec();
    h.handle_frame(now, &FrameBuf::seal(Pdf::XDOMAIN_REQ, &body).unwrap());
    // An unknown PDF.
    h.handle_frame(now, &FrameBuf::seal(Pdf::new(14), &[0; 8]).unwrap());
    assert_eq!(h.stats().malformed, 4);
    assert_eq!(h.poll_transmit(), None, "no reply to any of them");
    // A frame of an unclaimed protocol: dropped without reply (spec 02 §7).
    let hdr = Header::for_body(R, Seq::new(0), Uuid::from_u128(1), 32).unwrap();
    let f = FrameBuf::build(Pdf::XDOMAIN_REQ, |b| {
        hdr.emit(b)?;
        Ok(32)
    })
    .unwrap();
    h.handle_frame(now, &f);
    assert_eq!(h.stats().unclaimed, 1);
    assert_eq!(h.poll_transmit(), None);
    // Unknown types and response types sent as requests: NOT_SUPPORTED.
    for ty in [8, 13, 2, 4, 99] {
        h.handle_frame(now, &raw(Pdf::XDOMAIN_REQ, Seq::new(3), ty, &[]));
        let r = h.poll_transmit().unwrap();
        assert_eq!((msg_type(&r), r.body()[35], seq(&r)), (7, 3, Seq::new(3)));
    }
    // Too short for their fields, answered as Linux 6.1 does (spec 02 §7):
    // a PROPERTIES_REQUEST under 68 bytes gets no reply, any
    // PROPERTIES_CHANGED_REQUEST gets type 6.
    h.handle_frame(now, &raw(Pdf::XDOMAIN_REQ, Seq::new(2), 3, &[0; 16]));
    assert_eq!(h.poll_transmit(), None);
    h.handle_frame(now, &raw(Pdf::XDOMAIN_REQ, Seq::new(2), 5, &[]));
    let r = h.poll_transmit().unwrap();
    assert_eq!((msg_type(&r), seq(&r)), (6, Seq::new(2)));
    // LINK_STATE_CHANGE: NOT_READY; a PROPERTIES_REQUEST for another domain: UNKNOWN_DOMAIN.
    h.handle_frame(
        now,
        &raw(Pdf::XDOMAIN_REQ, Seq::new(1), 17, &[0, 0, 0x0c, 3]),
    );
    assert_eq!(h.poll_transmit().unwrap().body()[35], 4);
    let mut p = uuid_bytes(&EVIL).to_vec();
    p.extend_from_slice(&uuid_bytes(&EVIL));
    p.extend_from_slice(&[0; 4]);
    h.handle_frame(now, &raw(Pdf::XDOMAIN_REQ, Seq::new(1), 3, &p));
    assert_eq!(h.poll_transmit().unwrap().body()[35], 2);
}

#[test]
fn replies_that_never_come_time_out_after_11_attempts() {
    let (mut h, mut now) = start();
    let t0 = now;
    let sent = drive(&mut h, &mut now, Duration::from_secs(3600), |_| vec![]);
    let ev = events(&mut h);
    assert_eq!(
        failure(&ev),
        Some(ProtoError::Timeout {
            kind: RequestKind::Uuid,
            attempts: 3
        })
    );
    // 11 attempts of 3 transmissions each, SN 2, 1, 0, 3, … (spec 02 §5.1).
    let uuid_reqs: Vec<&FrameBuf> = sent.iter().filter(|f| msg_type(f) == 12).collect();
    assert_eq!(uuid_reqs.len(), 33);
    let sns: Vec<u8> = uuid_reqs
        .iter()
        .step_by(3)
        .map(|f| seq(f).value())
        .collect();
    assert_eq!(sns, [2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0]);
    // 11 × 3 s of timeouts + 10 × 1 s of delay.
    assert_eq!(now - t0, Duration::from_secs(43));
    assert_eq!(h.outstanding_requests(), 0);
    assert_eq!(h.poll_timeout(), None);
}

#[test]
fn oversized_block_fails_after_retries() {
    let (mut h, mut now) = start();
    let me = h.uuid();
    let sent = drive(
        &mut h,
        &mut now,
        Duration::from_secs(3600),
        serving(me, valid_root(1), 600),
    );
    let ev = events(&mut h);
    assert_eq!(
        failure(&ev),
        Some(ProtoError::Peer(PeerError::BlockLength { len: 600 }))
    );
    let reads = sent
        .iter()
        .filter(|f| msg_type(f) == 3 && props_offset(f) == 0)
        .count();
    assert_eq!(reads, 11);
}

#[test]
fn self_referencing_block_fails_at_once() {
    let (mut h, mut now) = start();
    let me = h.uuid();
    let key = u32::from_be_bytes(*b"loop");
    let block = vec![
        0x5558_4401,
        4,
        key,
        0,
        0x4400_0008,
        6,
        1,
        2,
        3,
        4,
        key,
        0,
        0x4400_0008,
        6,
    ];
    let sent = drive(
        &mut h,
        &mut now,
        Duration::from_secs(3600),
        serving(me, block, 14),
    );
    let ev = events(&mut h);
    assert!(
        matches!(failure(&ev), Some(ProtoError::Peer(PeerError::Parse(_)))),
        "{ev:?}"
    );
    assert_eq!(
        sent.iter().filter(|f| msg_type(f) == 3).count(),
        1,
        "no retry after a parse error"
    );
    assert!(h.xdomains().next().is_none());
}

#[test]
fn missing_ids_and_too_many_services_are_typed() {
    let (mut h, mut now) = start();
    let me = h.uuid();
    let mut root = Directory::new();
    root.add_text("deviceid", "no ids").unwrap();
    let block = root.format().unwrap();
    let len = block.len() as u16;
    drive(
        &mut h,
        &mut now,
        Duration::from_secs(60),
        serving(me, block, len),
    );
    assert_eq!(
        failure(&events(&mut h)),
        Some(ProtoError::Peer(PeerError::MissingIds))
    );

    let (mut h, mut now) = start();
    let me = h.uuid();
    let block = valid_root(5);
    let len = block.len() as u16;
    drive(
        &mut h,
        &mut now,
        Duration::from_secs(60),
        serving(me, block, len),
    );
    assert_eq!(
        failure(&events(&mut h)),
        Some(ProtoError::Peer(PeerError::TooManyServices { count: 5 }))
    );

    // A UUID request from the peer revives discovery (spec 02 §5.2).
    h.handle_frame(now, &raw(Pdf::XDOMAIN_REQ, Seq::new(0), 12, &[]));
    let sent: Vec<FrameBuf> = std::iter::from_fn(|| h.poll_transmit()).collect();
    assert_eq!(sent.iter().map(msg_type).collect::<Vec<_>>(), [2, 12]);
}

#[test]
fn silent_peer_is_learned_from_its_properties_changed() {
    let (mut h, mut now) = start();
    let me = h.uuid();
    let _ = h.poll_transmit(); // the UUID request, never answered
    h.handle_frame(now, &pcr(Seq::new(1)));
    assert_eq!(h.peer_uuid(R), Some(EVIL));
    let mut block_peer = serving(me, valid_root(2), valid_root(2).len() as u16);
    let sent = drive(&mut h, &mut now, Duration::from_secs(60), |f| {
        if msg_type(f) == 12 {
            vec![]
        } else {
            block_peer(f)
        }
    });
    // PROPERTIES_REQUEST carries the learned UUID as dst_uuid.
    let req = sent.iter().find(|f| msg_type(f) == 3).unwrap();
    assert_eq!(WireUuid::read(req.body(), 48), Some(EVIL));
    assert_eq!(h.xdomain(R).unwrap().services.len(), 2);
}

#[test]
fn properties_changed_flood_is_bounded() {
    let (mut h, mut now) = start();
    let me = h.uuid();
    let block = valid_root(1);
    let len = block.len() as u16;
    drive(
        &mut h,
        &mut now,
        Duration::from_secs(60),
        serving(me, block.clone(), len),
    );
    assert!(h.xdomain(R).is_some());
    let cap = h.config().tx_queue;
    for i in 0..10_000u32 {
        h.handle_frame(now, &pcr(Seq::new(i as u8)));
    }
    assert!(h.queued_frames() <= cap);
    assert!(h.stats().tx_dropped >= 10_000 - cap as u64);
    let queued: Vec<FrameBuf> = std::iter::from_fn(|| h.poll_transmit()).collect();
    let reads = queued.iter().filter(|f| msg_type(f) == 3).count();
    assert_eq!(reads, 1, "one read, however many notifications");
    assert!(h.outstanding_requests() <= 2);
    assert!(h.queued_events() < 100);
}

#[test]
fn peer_count_is_bounded() {
    let mut h = Host::new(HostConfig {
        max_peers: 8,
        ..HostConfig::default()
    });
    for p in 1..=8u8 {
        h.handle_xdomain_connected(Instant::ZERO, Route::from_raw(u64::from(p)))
            .unwrap();
    }
    assert!(
        h.handle_xdomain_connected(Instant::ZERO, Route::from_raw(9))
            .is_err()
    );
    assert!(
        h.handle_xdomain_connected(Instant::ZERO, Route::HOST)
            .is_err()
    );
}
