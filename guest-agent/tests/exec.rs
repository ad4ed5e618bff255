//! Exec over a real HTTP/2 client against the agent binary on a Unix socket.

mod common;

use std::time::{Duration, Instant};

use common::*;
use proto::process_input::Kind as Input;

const LINE: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_megabytes_of_stdout_arrive_in_order_before_exit() {
    let agent = AgentProcess::start("bigout", &[]).await;
    let mut client = agent.client().await;
    const TOTAL: usize = 100 * 1024 * 1024;
    let script = format!("yes {} | head -c {}", std::str::from_utf8(&LINE[..LINE.len() - 1]).unwrap(), TOTAL);
    let mut call = client.call("Exec").await;
    call.send(&exec_start(start(&["sh", "-c", &script])));
    // Check bytes as they arrive instead of keeping 100 MB around.
    let mut received = 0usize;
    let mut exited = None;
    while let Some(response) = within(WAIT * 3, call.message::<proto::ExecResponse>()).await.expect("status") {
        match response.event.unwrap().kind.unwrap() {
            proto::process_event::Kind::Output(chunk) => {
                assert!(exited.is_none(), "output after the final event");
                assert_eq!(chunk.stream, proto::OutputStream::Stdout as i32);
                assert_eq!(chunk.offset_bytes, received as u64);
                assert!(chunk.data.len() <= 64 * 1024);
                for (i, byte) in chunk.data.iter().enumerate() {
                    assert_eq!(*byte, LINE[(received + i) % LINE.len()], "byte {}", received + i);
                }
                received += chunk.data.len();
            }
            proto::process_event::Kind::Exited(e) => {
                assert!(exited.is_none(), "two final events");
                exited = Some(e);
            }
            proto::process_event::Kind::Started(_) => {}
            other => panic!("unexpected event {:?}", other),
        }
    }
    assert_eq!(received, TOTAL);
    let exited = exited.expect("final event");
    assert_eq!(exited.status, Some(proto::exited::Status::ExitCode(0)));
    assert!(!exited.output_may_continue && !exited.stdout_truncated);
}

#[tokio::test]
async fn exit_while_grandchild_holds_stdout_finishes_after_wait_delay() {
    let agent = AgentProcess::start("grandchild", &[]).await;
    let mut client = agent.client().await;
    let mut s = start(&["sh", "-c", "sleep 1000 & echo $!; echo parent-done"]);
    s.wait_delay_ms = 300;
    let began = Instant::now();
    let outcome = within(WAIT, run(&mut client, s)).await;
    let elapsed = began.elapsed();
    let exited = outcome.exited.clone().expect("exited");
    assert_eq!(outcome.exit_code(), Some(0));
    assert!(exited.output_may_continue, "descendant still holds the pipe");
    assert!(elapsed >= Duration::from_millis(300), "final event came before wait_delay_ms: {:?}", elapsed);
    assert!(elapsed < Duration::from_secs(30));
    let text = String::from_utf8(outcome.stdout).unwrap();
    assert!(text.ends_with("parent-done\n"), "{:?}", text);
    let grandchild: i32 = text.lines().next().unwrap().parse().unwrap();
    assert!(alive(grandchild), "the grandchild must be left running");
    kill_now(grandchild);
}

fn kill_now(pid: i32) {
    let _ = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

#[tokio::test]
async fn stdin_pipe_with_resend_and_eof() {
    let agent = AgentProcess::start("stdin", &[]).await;
    let mut client = agent.client().await;
    let mut s = start(&["cat"]);
    s.stdin_mode = proto::StdinMode::Pipe as i32;
    let mut call = client.call("Exec").await;
    call.send(&exec_start(s));
    call.send(&exec_input(stdin(b"hello\n", 0)));
    call.send(&exec_input(stdin(b"world", 6)));
    // A resend after a reconnect: already written, so skipped.
    call.send(&exec_input(stdin(b"hello\n", 0)));
    call.send(&exec_input(Input::StdinEof(proto::StdinEof {})));
    let mut outcome = Outcome::default();
    within(WAIT, finish_exec(&mut call, &mut outcome)).await.unwrap();
    assert_eq!(outcome.stdout, b"hello\nworld");
    assert_eq!(outcome.exit_code(), Some(0));
}

#[tokio::test]
async fn stdin_none_reads_eof_immediately() {
    let agent = AgentProcess::start("stdin-none", &[]).await;
    let mut client = agent.client().await;
    let outcome = within(WAIT, run(&mut client, start(&["sh", "-c", "cat; echo after-cat"]))).await;
    assert_eq!(outcome.stdout, b"after-cat\n");
}

#[tokio::test]
async fn timeout_kills_the_group_and_keeps_partial_output() {
    let agent = AgentProcess::start("timeout", &[]).await;
    let mut client = agent.client().await;
    // The shell ignores TERM, so only the KILL after the grace period ends it.
    let mut s = start(&["sh", "-c", "trap '' TERM; echo partial; sleep 1000 & echo $!; wait; sleep 1000"]);
    s.timeout_ms = 300;
    s.kill_grace_ms = 200;
    let outcome = within(WAIT, run(&mut client, s)).await;
    let exited = outcome.exited.clone().expect("exited");
    assert!(exited.timed_out);
    assert_eq!(outcome.signal(), Some(libc::SIGKILL));
    let text = String::from_utf8(outcome.stdout).unwrap();
    assert!(text.starts_with("partial\n"), "{:?}", text);
    let background: i32 = text.lines().nth(1).unwrap().parse().unwrap();
    eventually(WAIT, "background sleep killed", || !alive(background)).await;
}

#[tokio::test]
async fn timeout_of_a_process_that_leaves_on_term_reports_sigterm() {
    // Regression: the agent polled the exit channel again after TERM had ended the process, and panicked (as PID 1
    // that panic took the whole VM down).
    let agent = AgentProcess::start("timeout-term", &[]).await;
    let mut client = agent.client().await;
    let mut s = start(&["sleep", "1000"]);
    s.timeout_ms = 300;
    s.kill_grace_ms = 5000;
    let outcome = within(WAIT, run(&mut client, s)).await;
    assert!(outcome.exited.clone().expect("exited").timed_out);
    assert_eq!(outcome.signal(), Some(libc::SIGTERM));
    // The agent is still there and serving.
    let outcome = within(WAIT, run(&mut client, start(&["echo", "alive"]))).await;
    assert_eq!(outcome.stdout, b"alive\n");
}

#[tokio::test]
async fn started_processes_are_the_oom_killers_first_choice() {
    // The agent protects itself (-1000 as init); its children must not inherit that, or a memory hog in the
    // sandbox's cgroup could never be killed.
    let agent = AgentProcess::start("oom-score", &[]).await;
    let mut client = agent.client().await;
    let outcome = within(WAIT, run(&mut client, start(&["cat", "/proc/self/oom_score_adj"]))).await;
    assert_eq!(outcome.stdout, b"500\n");
}

#[tokio::test]
async fn signals_are_delivered() {
    // Started the way a background job of a shell under nohup is: what the agent ignores, its processes must not.
    let agent = AgentProcess::start_ignoring("signals", &[], &[libc::SIGINT, libc::SIGHUP, libc::SIGUSR1]).await;
    let mut client = agent.client().await;
    for (i, signal) in [libc::SIGTERM, libc::SIGINT, libc::SIGKILL, libc::SIGHUP, libc::SIGUSR1].iter().enumerate() {
        let mut call = client.call("Exec").await;
        // No shell in front: dash -c catches SIGINT itself, and one arriving between a readiness echo and its
        // `exec sleep` was swallowed, leaving sleep to run on (seen once on a loaded host). The target is sleep
        // from its Started event on; a signal landing before its execve is pending and kills it all the same.
        let mut s = start(&["sleep", "1000"]);
        s.id = format!("sig{}", i);
        call.send(&exec_start(s));
        let mut outcome = Outcome::default();
        within(WAIT, read_until_started(&mut call, &mut outcome)).await;
        if i % 2 == 0 {
            call.send(&exec_input(Input::Signal(proto::SignalDelivery { signal: *signal })));
        } else {
            let request = proto::SignalRequest { id: format!("sig{}", i), signal: *signal };
            client.unary::<_, proto::SignalResponse>("Signal", &request).await.expect("Signal");
        }
        within(WAIT, finish_exec(&mut call, &mut outcome)).await.unwrap();
        assert_eq!(outcome.signal(), Some(*signal), "signal {}", signal);
    }
    // A handler sees the signal and the process goes on.
    let mut call = client.call("Exec").await;
    call.send(&exec_start(start(&["sh", "-c", "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done"])));
    let mut outcome = Outcome::default();
    within(WAIT, read_until(&mut call, &mut outcome, "ready")).await;
    call.send(&exec_input(Input::Signal(proto::SignalDelivery { signal: libc::SIGUSR1 })));
    within(WAIT, finish_exec(&mut call, &mut outcome)).await.unwrap();
    assert!(String::from_utf8_lossy(&outcome.stdout).contains("got-usr1"));
    assert_eq!(outcome.exit_code(), Some(7));
}

#[tokio::test]
async fn cancelled_stream_kills_the_process() {
    let agent = AgentProcess::start("cancel", &[]).await;
    let mut client = agent.client().await;
    let mut call = client.call("Exec").await;
    call.send(&exec_start(start(&["sh", "-c", "echo $$; exec sleep 1000"])));
    let mut outcome = Outcome::default();
    within(WAIT, read_until(&mut call, &mut outcome, "\n")).await;
    let pid: i32 = String::from_utf8_lossy(&outcome.stdout).trim().parse().unwrap();
    assert!(alive(pid));
    call.cancel();
    eventually(WAIT, "cancelled process killed", || !alive(pid)).await;
}

#[tokio::test]
async fn deadline_exceeded_ends_call_and_kills_process() {
    let agent = AgentProcess::start("deadline", &[]).await;
    let mut client = agent.client().await;
    let mut call = client.start_raw("/kelpie.agent.v1.Agent/Exec", &[("grpc-timeout", "300m")]).await;
    call.send(&exec_start(start(&["sh", "-c", "echo $$; exec sleep 1000"])));
    let mut outcome = Outcome::default();
    within(WAIT, read_until(&mut call, &mut outcome, "\n")).await;
    let pid: i32 = String::from_utf8_lossy(&outcome.stdout).trim().parse().unwrap();
    let status = within(WAIT, finish_exec(&mut call, &mut outcome)).await.unwrap_err();
    assert_eq!(status.code, code::DEADLINE_EXCEEDED);
    eventually(WAIT, "process killed at the deadline", || !alive(pid)).await;
}

#[tokio::test]
async fn dropped_connection_keeps_process_and_attach_replays() {
    let agent = AgentProcess::start("attach", &[]).await;
    let flag = agent.dir.join("flag");
    let mut client = agent.client().await;
    let mut s = start(&["sh", "-c", &format!("echo one; while [ ! -e {} ]; do sleep 0.02; done; echo two; read x; echo got-$x", flag.display())]);
    s.id = "keep".into();
    s.stdin_mode = proto::StdinMode::Pipe as i32;
    let mut call = client.call("Exec").await;
    call.send(&exec_start(s));
    let mut outcome = Outcome::default();
    within(WAIT, read_until(&mut call, &mut outcome, "one\n")).await;
    client.drop_connection();

    let mut client = agent.client().await;
    let deadline = Instant::now() + WAIT;
    while keep_info(&mut client).await.attached {
        assert!(Instant::now() < deadline, "agent never noticed the lost connection");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Output produced while nobody is connected is buffered.
    std::fs::write(&flag, b"").unwrap();
    while keep_info(&mut client).await.stdout_bytes < 8 {
        assert!(Instant::now() < deadline, "process did not go on while detached");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let info = keep_info(&mut client).await;
    assert_eq!(info.state, proto::ProcessState::Running as i32);

    let mut attach = client.call("Attach").await;
    attach.send(&proto::AttachRequest {
        kind: Some(proto::attach_request::Kind::Start(proto::AttachStart { id: "keep".into(), stdout_offset_bytes: 0, stderr_offset_bytes: 0 })),
    });
    attach.send(&proto::AttachRequest {
        kind: Some(proto::attach_request::Kind::Input(proto::ProcessInput { kind: Some(stdin(b"x\n", 0)) })),
    });
    let mut replay = Outcome::default();
    while let Some(response) = within(WAIT, attach.message::<proto::AttachResponse>()).await.unwrap() {
        record(&mut replay, response.event.unwrap());
    }
    assert_eq!(replay.started.as_ref().unwrap().id, "keep");
    assert_eq!(String::from_utf8(replay.stdout.clone()).unwrap(), "one\ntwo\ngot-x\n");
    assert_eq!(replay.exit_code(), Some(0));
}

async fn keep_info(client: &mut Client) -> proto::ProcessInfo {
    let list: proto::ListProcessesResponse = client.unary("ListProcesses", &proto::ListProcessesRequest {}).await.unwrap();
    list.processes.into_iter().find(|p| p.id == "keep").expect("listed")
}

#[tokio::test]
async fn lost_attached_exec_is_killed_after_grace_but_detached_runs_on() {
    let agent = AgentProcess::start("grace", &["--reattach-grace-ms", "300"]).await;
    let mut client = agent.client().await;
    let mut pids = Vec::new();
    let mut calls = Vec::new();
    for detached in [false, true] {
        let mut s = start(&["sh", "-c", "echo $$; exec sleep 1000"]);
        s.detached = detached;
        let mut call = client.call("Exec").await;
        call.send(&exec_start(s));
        let mut outcome = Outcome::default();
        within(WAIT, read_until(&mut call, &mut outcome, "\n")).await;
        pids.push(String::from_utf8_lossy(&outcome.stdout).trim().parse::<i32>().unwrap());
        calls.push(call);
    }
    client.drop_connection();
    eventually(WAIT, "attached exec killed after the grace period", || !alive(pids[0])).await;
    assert!(alive(pids[1]), "a detached exec runs on");
    kill_now(pids[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_execs() {
    let agent = AgentProcess::start("concurrent", &[]).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut client = agent.client().await;
        tasks.push(tokio::spawn(async move {
            let script = format!("echo start-{}; head -c 300000 /dev/zero; echo err-{} >&2; exit {}", i, i, i);
            let outcome = run(&mut client, start(&["sh", "-c", &script])).await;
            assert_eq!(outcome.exit_code(), Some(i));
            assert_eq!(outcome.stdout.len(), format!("start-{}\n", i).len() + 300000);
            assert_eq!(outcome.stderr, format!("err-{}\n", i).into_bytes());
        }));
    }
    for task in tasks {
        within(WAIT, task).await.unwrap();
    }
}

#[tokio::test]
async fn pty_mode_has_a_terminal_of_the_requested_size() {
    let agent = AgentProcess::start("pty", &[]).await;
    let mut client = agent.client().await;
    let mut s = start(&["sh", "-c", "tty; stty size"]);
    s.stdin_mode = proto::StdinMode::Pty as i32;
    s.terminal_size = Some(proto::TerminalSize { rows: 33, columns: 101 });
    let outcome = within(WAIT, run(&mut client, s)).await;
    let text = String::from_utf8_lossy(&outcome.stdout);
    assert!(text.contains("/dev/pts/"), "{:?}", text);
    assert!(text.contains("33 101"), "{:?}", text);
    assert_eq!(outcome.exit_code(), Some(0));
}

#[tokio::test]
async fn output_limits_truncate_and_say_so() {
    let agent = AgentProcess::start("limits", &[]).await;
    let mut client = agent.client().await;
    let mut s = start(&["sh", "-c", "head -c 200000 /dev/zero; echo tiny >&2"]);
    s.stdout_limit_bytes = 1000;
    let outcome = within(WAIT, run(&mut client, s)).await;
    assert_eq!(outcome.stdout.len(), 1000);
    assert_eq!(outcome.stderr, b"tiny\n");
    let exited = outcome.exited.unwrap();
    assert!(exited.stdout_truncated && !exited.stderr_truncated);
}

#[tokio::test]
async fn start_failures_are_final_events() {
    let agent = AgentProcess::start("failures", &[]).await;
    let mut client = agent.client().await;
    let outcome = within(WAIT, run(&mut client, start(&["/no/such/program"]))).await;
    let failed = outcome.failed.expect("failed");
    assert_eq!(failed.stage, proto::FailureStage::Exec as i32);
    assert_eq!(failed.errno, libc::ENOENT);
    let outcome = within(WAIT, run(&mut client, start(&[]))).await;
    assert_eq!(outcome.failed.unwrap().stage, proto::FailureStage::Request as i32);
    let mut s = start(&["true"]);
    s.user = "no-such-user-here".into();
    let outcome = within(WAIT, run(&mut client, s)).await;
    assert_eq!(outcome.failed.unwrap().stage, proto::FailureStage::Request as i32);
}

/// Attaches to `id` from offset 0 and reads to the end of the stream. The replay may start later
/// than asked (only a tail is kept): stdout then holds what came from its first offset on.
async fn attach_to_end(client: &mut Client, id: &str) -> Result<Outcome, Status> {
    let mut attach = client.call("Attach").await;
    attach.send(&proto::AttachRequest {
        kind: Some(proto::attach_request::Kind::Start(proto::AttachStart { id: id.into(), stdout_offset_bytes: 0, stderr_offset_bytes: 0 })),
    });
    attach.close_send();
    let mut outcome = Outcome::default();
    let mut next_stdout_offset = None;
    while let Some(response) = within(WAIT, attach.message::<proto::AttachResponse>()).await? {
        match response.event.unwrap() {
            proto::ProcessEvent { kind: Some(proto::process_event::Kind::Output(chunk)) } if chunk.stream == proto::OutputStream::Stdout as i32 => {
                let expected = *next_stdout_offset.get_or_insert(chunk.offset_bytes);
                assert_eq!(chunk.offset_bytes, expected, "offsets must be contiguous");
                next_stdout_offset = Some(expected + chunk.data.len() as u64);
                outcome.stdout.extend_from_slice(&chunk.data);
            }
            event => record(&mut outcome, event),
        }
    }
    Ok(outcome)
}

#[tokio::test]
async fn a_late_attach_after_the_exit_was_delivered_replays_the_tail_and_the_exit() {
    let agent = AgentProcess::start("late", &[]).await;
    let mut client = agent.client().await;
    // More than the retained tail, so the replay shows that only the tail is kept.
    let mut s = start(&["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' x; echo; echo last; exit 7"]);
    s.id = "done".into();
    s.detached = true;
    let first = run(&mut client, s).await;
    assert_eq!(first.exit_code(), Some(7));
    assert_eq!(first.stdout.len(), 100006);

    // Another client, after the exit reached the first one.
    let mut other = agent.client().await;
    let late = attach_to_end(&mut other, "done").await.expect("still known");
    assert_eq!(late.exit_code(), Some(7));
    assert!(late.stdout.ends_with(b"x\nlast\n"));
    assert_eq!(late.stdout.len(), 64 * 1024, "the tail of the output is kept");
    let again = attach_to_end(&mut other, "done").await.expect("and again");
    assert_eq!(again.exit_code(), Some(7));

    let list: proto::ListProcessesResponse = other.unary("ListProcesses", &proto::ListProcessesRequest {}).await.unwrap();
    let info = list.processes.iter().find(|p| p.id == "done").expect("listed");
    assert_eq!(info.state, proto::ProcessState::Exited as i32);
    assert_eq!(info.stdout_bytes, 100006);

    // A finished process gives its id up to a new one.
    let mut reuse = start(&["true"]);
    reuse.id = "done".into();
    assert_eq!(run(&mut client, reuse).await.exit_code(), Some(0));
}

#[tokio::test]
async fn finished_processes_are_forgotten_after_the_retention_time_and_beyond_the_count() {
    let agent = AgentProcess::start("retention", &["--retain-finished-ms", "400", "--retain-finished-count", "2"]).await;
    let mut client = agent.client().await;
    for id in ["a", "b", "c"] {
        let mut s = start(&["echo", id]);
        s.id = id.into();
        assert_eq!(run(&mut client, s).await.exit_code(), Some(0));
    }
    let gone = attach_to_end(&mut client, "a").await.expect_err("over the count, the oldest exit goes first");
    assert_eq!(gone.code, code::NOT_FOUND);
    assert_eq!(attach_to_end(&mut client, "c").await.expect("kept").stdout, b"c\n");

    let deadline = Instant::now() + WAIT;
    loop {
        match attach_to_end(&mut client, "c").await {
            Err(status) if status.code == code::NOT_FOUND => break,
            Ok(outcome) => assert_eq!(outcome.exit_code(), Some(0)),
            Err(other) => panic!("unexpected {:?}", other),
        }
        assert!(Instant::now() < deadline, "c was never forgotten");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
