//! `shopfloor camera list|grab` against Aravis's simulated GigE Vision
//! camera (Debian `aravis-tools`) on loopback. The tests run one at a time
//! with the other simulated-camera tests (`fake_gige_camera` in the name;
//! .config/nextest.toml): the camera listens on 127.0.0.1's GigE port.

use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

static ONE_CAMERA_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_CAMERA_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct FakeCamera(Child);

impl FakeCamera {
    fn start(serial: &str) -> Self {
        let child = Command::new("arv-fake-gv-camera-0.8")
            .args(["-i", "127.0.0.1", "-s", serial])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("arv-fake-gv-camera-0.8 starts (Debian aravis-tools; scripts/test.sh installs it)");
        Self(child)
    }
}

impl Drop for FakeCamera {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn shopfloor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shopfloor")).args(args).output().expect("the shopfloor binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Discovery finds the camera, whose id is what `CAMERA_DEVICE` takes;
/// discovery waits for answers, so the camera's start needs no wait here
/// beyond a retry while it binds its port.
#[test]
fn list_finds_the_fake_gige_camera() {
    let _one = one_at_a_time();
    let _camera = FakeCamera::start("GV07");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let output = shopfloor(&["camera", "list"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let listed = text(&output.stdout);
        if listed.contains("Aravis-Fake-GV07") {
            assert!(listed.contains("127.0.0.1"), "{listed}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not found within a minute: {listed}");
    }
}

/// Grabbed frames are PNG files of the region and pixel format asked for.
#[test]
fn grab_saves_frames_of_the_fake_gige_camera_as_png() {
    let _one = one_at_a_time();
    let _camera = FakeCamera::start("GV08");
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().join("good");
    let folder_arg = folder.to_str().unwrap();
    let output = shopfloor(&[
        "camera",
        "grab",
        "--device",
        "127.0.0.1",
        "--out",
        folder_arg,
        "--count",
        "3",
        "--rate-hz",
        "20",
        "--region",
        "0,0,64,48",
    ]);
    assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
    let mut files: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in files {
        let image = image::open(&file).unwrap();
        assert_eq!((image.width(), image.height(), image.color()), (64, 48, image::ColorType::L8), "{file:?}");
    }
    // A camera that is not there: a clear error, not a hang.
    let output = shopfloor(&["camera", "grab", "--device", "127.0.0.9", "--out", folder_arg, "--count", "1"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains("cannot open camera \"127.0.0.9\""), "{}", text(&output.stderr));
}

/// An IP camera that is not there, or an address with an account in it:
/// a clear error that never shows the password. (Grabbing from a real RTSP
/// camera goes through the node's own code, tested in camera-source's
/// `rtsp` tests.)
#[test]
fn grab_from_an_absent_ip_camera_is_a_clear_error() {
    let out = tempfile::tempdir().unwrap();
    let folder_arg = out.path().to_str().unwrap();
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("rtsp://127.0.0.1:{}/line1", listener.local_addr().unwrap().port())
    };
    let output = shopfloor(&["camera", "grab", "--url", &closed, "--out", folder_arg, "--count", "1"]);
    assert!(!output.status.success());
    assert!(text(&output.stderr).contains(&closed), "{}", text(&output.stderr));
    let with_account = "rtsp://admin:hunter2@127.0.0.1/line1";
    let output = shopfloor(&["camera", "grab", "--url", with_account, "--out", folder_arg]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--password-file") && !stderr.contains("hunter2"), "{stderr}");
    let output = shopfloor(&["camera", "grab", "--out", folder_arg]);
    assert!(!output.status.success(), "a camera must be named");
}
