//! Memory bounded by configuration, not by callers: Evaluate bodies over their size or JSON
//! element limit are refused with INVALID_ARGUMENT naming the limit, before anything is parsed.
//! Measured on the real binary: two concurrent 15 MB Evaluate bodies of five million `{}`
//! (which once took +580 MB to parse) leave the service's peak RSS (VmHWM, /proc) far below
//! the chart's 512 MiB limit; the bound asserted is loose, for a noisy machine.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tonic::Code;
use tonic_types::StatusExt as _;
use zoloz_verdict::pb;
use zoloz_verdict::pb::verdict_service_client::VerdictServiceClient;

use crate::harness::{binary, fixture, free_port, vector_path};

/// The real binary serving `config`, quietly (warnings only, no output kept).
fn serve(config: &std::path::Path) -> std::process::Child {
    Command::new(binary())
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn evaluate(body: Vec<u8>) -> pb::EvaluateVerificationResultRequest {
    pb::EvaluateVerificationResultRequest {
        product: pb::Product::Connect as i32,
        response_body: body.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn large_evaluate_bodies_are_refused_without_being_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "allow_unauthenticated = true\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
             metrics_listen = \"off\"\nmax_evaluate_body_bytes = 16000000\n\
             [audit]\nenabled = false\n[tenants.default]\nclient_id = \"2089012345678900\"\n\
             base_url = \"http://127.0.0.1:9\"\nmerchant_private_key_file = {:?}\n\
             zoloz_public_key_file = {:?}\n",
            vector_path("merchant_private.pk8.b64"),
            vector_path("zoloz_public.spki.b64"),
        ),
    )
    .unwrap();
    let mut child = serve(&config);
    let pid = child.id();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let channel = loop {
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(url.clone())
            .unwrap()
            .connect()
            .await
        {
            break channel;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not serving");
        assert!(child.try_wait().unwrap().is_none(), "serve exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let client = VerdictServiceClient::new(channel)
        .max_encoding_message_size(64 * 1024 * 1024)
        .max_decoding_message_size(64 * 1024 * 1024);

    // An ordinary body is evaluated.
    let ok = client
        .clone()
        .evaluate_verification_result(evaluate(fixture("seeds/connect.response.json")))
        .await
        .unwrap();
    assert_eq!(ok.get_ref().decision(), pb::Decision::Approved);
    let before = status_kib(pid, "VmRSS:");

    // Five million `{}`: 15 MB, under the size limit set here, over the element limit.
    let flood = {
        let mut body = Vec::with_capacity(15_000_002);
        body.push(b'[');
        for i in 0..5_000_000 {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{}");
        }
        body.push(b']');
        body
    };
    let calls = (0..2).map(|_| {
        let mut client = client.clone();
        let request = evaluate(flood.clone());
        tokio::spawn(async move { client.evaluate_verification_result(request).await })
    });
    for call in calls {
        let status = call.await.unwrap().unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        let violations = status.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, "response_body");
        assert!(
            violations[0]
                .description
                .contains("server.max_evaluate_json_elements (100000)"),
            "{violations:?}"
        );
    }
    // Over the size limit: named too.
    let mut oversized = b"{\"result\":{\"resultCode\":\"SUCCESS\"},\"pad\":\"".to_vec();
    oversized.resize(16_000_100, b'a');
    oversized.extend_from_slice(b"\"}");
    let status = client
        .clone()
        .evaluate_verification_result(evaluate(oversized))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("server.max_evaluate_body_bytes"),
        "{}",
        status.message()
    );

    let peak = status_kib(pid, "VmHWM:");
    println!(
        "memory: VmRSS before the floods {} MiB, VmHWM after {} MiB",
        before / 1024,
        peak / 1024
    );
    assert!(
        peak < 256 * 1024,
        "peak RSS {} MiB: the floods were parsed",
        peak / 1024
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// A raw HTTP/2 client that sends one Get asking for images and never reads the answer: its
/// receive window stays closed after the first 64 KiB. Returns the response headers' grpc-status
/// (none: the answer is being sent) and the stream, to keep it open.
async fn stalled_get(
    sender: &mut h2::client::SendRequest<bytes::Bytes>,
    addr: std::net::SocketAddr,
    transaction_id: &str,
) -> (Option<String>, h2::RecvStream) {
    let mut message =
        crate::harness::request(zoloz_verdict::domain::Product::FaceCapture, transaction_id);
    message.image_options = Some(pb::ImageOptions {
        return_images: true,
        extra_images: Vec::new(),
    });
    let encoded = prost::Message::encode_to_vec(&message);
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(encoded.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&encoded);
    let request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{addr}/zoloz.verdict.v1.VerdictService/GetVerificationResult"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
    let ready = sender.clone().ready().await.unwrap();
    *sender = ready;
    let (response, mut send) = sender.send_request(request, false).unwrap();
    send.send_data(frame.into(), true).unwrap();
    let response = response.await.unwrap();
    let status = response
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_string());
    (status, response.into_body())
}

/// Readers that never open their receive window hold image answers against the response
/// budget, not beyond it: once it is spent, new image-carrying calls are shed with OVERLOADED
/// while calls without images are answered; after the send timeout the stalled answers are
/// dropped and image calls are answered again.
#[tokio::test]
async fn stalled_readers_are_bounded_by_the_response_budget() {
    let service = crate::harness::spawn_service(
        |_| {},
        |c| {
            c.server.max_response_bytes_in_flight = 6 * 1024 * 1024;
            c.server.send_timeout = Duration::from_secs(2);
        },
    )
    .await;
    let tcp = tokio::net::TcpStream::connect(service.addr).await.unwrap();
    let (mut sender, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut held = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (status, stream) = stalled_get(
            &mut sender,
            service.addr,
            &format!("sim-face-capture-large-images.{i}"),
        )
        .await;
        statuses.push(status);
        held.push(stream);
    }
    let sending = statuses.iter().filter(|s| s.is_none()).count();
    let shed = statuses
        .iter()
        .filter(|s| s.as_deref() == Some("8"))
        .count();
    assert!(sending >= 1 && shed >= 1, "{statuses:?}");
    assert_eq!(sending + shed, statuses.len(), "{statuses:?}");

    let mut client = service.client();
    let mut with_images = crate::harness::request(
        zoloz_verdict::domain::Product::FaceCapture,
        "sim-face-capture-large-images.fresh",
    );
    with_images.image_options = Some(pb::ImageOptions {
        return_images: true,
        extra_images: Vec::new(),
    });
    let status = client
        .get_verification_result(with_images.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "OVERLOADED"
    );
    assert!(
        status
            .message()
            .contains("server.max_response_bytes_in_flight")
    );
    // Calls without images are answered meanwhile.
    let plain = crate::harness::request(
        zoloz_verdict::domain::Product::Connect,
        "sim-connect-approve",
    );
    client.get_verification_result(plain).await.unwrap();

    // The send timeout drops the stalled answers: image calls are answered again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let answered = client
        .get_verification_result(with_images)
        .await
        .unwrap()
        .into_inner();
    assert!(!answered.images.is_empty());
    drop(held);
}

/// The hostile mix on the real binary: 200 image requests from readers that never open their
/// receive window (on 2 connections) and two 15 MB Evaluate floods, while another caller is
/// answered; the service's peak RSS (VmHWM) stays under 256 MiB with the default budget.
#[tokio::test]
async fn two_hundred_stalled_readers_and_evaluate_floods_stay_under_256_mib() {
    let keys = crate::harness::sim_keys();
    let sim = crate::harness::start_simulator(zoloz_verdict::simulator::SimulatorConfig::new(
        crate::harness::CLIENT_ID,
        keys.merchant_public(),
        std::sync::Arc::clone(&keys.zoloz_private),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "allow_unauthenticated = true\n[server]\nlisten = \"127.0.0.1:{port}\"\n\
             metrics_listen = \"off\"\nmax_evaluate_body_bytes = 16000000\n\
             [audit]\nenabled = false\n[tenants.default]\nclient_id = \"{}\"\n\
             base_url = \"{}\"\nmerchant_private_key_file = {:?}\n\
             zoloz_public_key_file = {:?}\nmax_concurrent_upstream = 256\n",
            crate::harness::CLIENT_ID,
            sim.base_url(),
            vector_path("merchant_private.pk8.b64"),
            vector_path("zoloz_public.spki.b64"),
        ),
    )
    .unwrap();
    let mut child = serve(&config);
    let pid = child.id();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    let channel = loop {
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
        {
            break channel;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "not serving");
        assert!(child.try_wait().unwrap().is_none(), "serve exited");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut other = VerdictServiceClient::new(channel)
        .max_encoding_message_size(64 * 1024 * 1024)
        .max_decoding_message_size(64 * 1024 * 1024);
    let before = status_kib(pid, "VmRSS:");

    let mut senders = Vec::new();
    for _ in 0..2 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sender, connection) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(connection);
        senders.push(sender);
    }
    let stalled = (0..200).map(|i| {
        let mut sender = senders[i % 2].clone();
        tokio::spawn(async move {
            stalled_get(
                &mut sender,
                addr,
                &format!("sim-face-capture-large-images.r{i}"),
            )
            .await
        })
    });
    let stalled: Vec<_> = stalled.collect();
    let flood = {
        let mut body = Vec::with_capacity(15_000_002);
        body.push(b'[');
        for i in 0..5_000_000 {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{}");
        }
        body.push(b']');
        body
    };
    let floods: Vec<_> = (0..2)
        .map(|_| {
            let mut client = other.clone();
            let request = evaluate(flood.clone());
            tokio::spawn(async move { client.evaluate_verification_result(request).await })
        })
        .collect();
    let mut held = Vec::new();
    let mut waiting = 0;
    for call in stalled {
        let (status, stream) = call.await.unwrap();
        match status.as_deref() {
            None => waiting += 1,
            Some("8") => {}
            Some(other) => panic!("grpc-status {other}"),
        }
        held.push(stream);
    }
    for flood in floods {
        assert_eq!(
            flood.await.unwrap().unwrap_err().code(),
            Code::InvalidArgument
        );
    }
    // Another caller is answered meanwhile.
    let answered = other
        .get_verification_result(crate::harness::request(
            zoloz_verdict::domain::Product::Connect,
            "sim-connect-approve",
        ))
        .await
        .unwrap();
    assert_eq!(answered.get_ref().decision(), pb::Decision::Approved);
    let peak = status_kib(pid, "VmHWM:");
    println!(
        "memory: 200 stalled image readers ({waiting} waiting, {} shed) and two 15 MB \
         Evaluate floods: VmRSS before {} MiB, VmHWM {} MiB",
        200 - waiting,
        before / 1024,
        peak / 1024
    );
    assert!(waiting >= 1);
    assert!(peak < 256 * 1024, "peak RSS {} MiB", peak / 1024);
    drop(held);
    let _ = child.kill();
    let _ = child.wait();
}

/// A Watch that returns images holds the response budget for as long as its stream lives:
/// while one runs on a budget that fits one, another image Watch and an image Get are shed
/// with `OVERLOADED`, a Watch without images is served, and once the first stream ends the
/// budget is free again.
#[tokio::test]
async fn an_image_watch_holds_the_response_budget_while_its_stream_lives() {
    let service = crate::harness::spawn_service(
        |_| {},
        |c| c.server.max_response_bytes_in_flight = 8 * 1024 * 1024,
    )
    .await;
    let mut client = service.client();
    let watch = |id: &str, images: bool| pb::WatchVerificationResultRequest {
        product: pb::Product::FaceCapture as i32,
        transaction_id: id.to_string(),
        image_options: images.then(|| pb::ImageOptions {
            return_images: true,
            extra_images: Vec::new(),
        }),
        ..Default::default()
    };
    // PROCESSING on every poll: the first image Watch runs until it is dropped.
    let mut first = client
        .watch_verification_result(watch("sim-face-capture-pending", true))
        .await
        .unwrap()
        .into_inner();
    let pending = first.message().await.unwrap().unwrap();
    assert_eq!(pending.decision, pb::Decision::Pending as i32);

    let refused = client
        .watch_verification_result(watch("sim-face-capture-pending.2", true))
        .await;
    let status = match refused {
        Err(status) => status,
        Ok(stream) => stream.into_inner().message().await.unwrap_err(),
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "OVERLOADED"
    );
    let mut image_get = crate::harness::request(
        zoloz_verdict::domain::Product::FaceCapture,
        "sim-face-capture-large-images.watching",
    );
    image_get.image_options = Some(pb::ImageOptions {
        return_images: true,
        extra_images: Vec::new(),
    });
    let status = client
        .get_verification_result(image_get.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // Without images a Watch holds nothing and is served.
    let mut plain = client
        .watch_verification_result(watch("sim-face-capture-approve", false))
        .await
        .unwrap()
        .into_inner();
    let approved = plain.message().await.unwrap().unwrap();
    assert_eq!(approved.decision, pb::Decision::Approved as i32);

    // The first stream ends: its share of the budget comes back.
    drop(first);
    let started = std::time::Instant::now();
    loop {
        match client.get_verification_result(image_get.clone()).await {
            Ok(answer) => {
                assert!(!answer.into_inner().images.is_empty());
                break;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the budget was not freed when the image Watch ended"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
