//! `pecdesk demo` in a real terminal: tmux runs the built binary, `send-keys`
//! types, `capture-pane` reads the screen. Waits are bounded polls, not sleeps.

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    session: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn start(width: u16, height: u16, command: &str) -> Self {
        let session = format!("pecdesk-test-{}-{width}x{height}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg(command)
            .env("NO_COLOR", "1")
            .status()
            .unwrap();
        assert!(status.success());
        Self { session }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits up to 20 s for `needle` on screen and returns the screen.
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(20) {
                panic!("\"{needle}\" did not appear; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Tmux {
    /// Waits up to 20 s for `needle` to leave the screen.
    fn wait_gone(&self, needle: &str) {
        let start = Instant::now();
        while self.screen().contains(needle) {
            if start.elapsed() > Duration::from_secs(20) {
                panic!("\"{needle}\" stayed; screen:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .status();
    }
}

fn drive_demo(width: u16, height: u16) {
    if !Tmux::available() {
        println!("skipped: tmux is not installed (CI installs it)");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_pecdesk");
    // After quitting, print the terminal mode so the test can see raw mode is gone.
    let tmux = Tmux::start(
        width,
        height,
        &format!(
            "PECDESK_OPERATOR=tmux-test {bin} demo; echo EXITED=$?; stty -a | grep -o -- '-\\?icanon' | head -1; echo STTY-DONE; sleep 60"
        ),
    );
    tmux.wait_for("Ultima sincronizzazione: 2");
    // The demo syncs as it starts: the counts from before it may show
    // first, until the new ones are in.
    let screen = tmux.wait_for(" / 1464 caselle");
    assert!(screen.contains("Caselle migrate"), "{screen}");
    tmux.keys(&["/"]);
    tmux.text("conte alessandra");
    tmux.wait_for("7 mostrati di");
    tmux.keys(&["Enter"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for("Cronologia");
    tmux.keys(&["r"]);
    tmux.wait_for("Reinviare l'e-mail di recupero a");
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("[ok] reinvio e-mail di recupero a *****");
    assert!(screen.contains("tmux-test"), "{screen}");
    tmux.keys(&["?"]);
    tmux.wait_for("Tasti");
    tmux.keys(&["Escape"]);
    // An Escape followed at once by another key reads as Alt-key: the next
    // key waits for the help to close.
    tmux.wait_gone("Esc o ? per chiudere");
    // A member on the phone: her mobile as she says it opens her detail,
    // "Cosa fare" above the timeline; `d` the call script, `y` copies it.
    // To the dashboard first, so what follows can only be the answer to
    // `:who`. (Escapes sent together read as Alt-Escape.)
    tmux.keys(&[":"]);
    tmux.text("dashboard");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Da seguire");
    tmux.keys(&[":"]);
    tmux.text("who 345 554 2297");
    tmux.keys(&["Enter"]);
    // Each awaited on its own: a capture may catch a frame half drawn.
    tmux.wait_for("Cosa fare");
    tmux.wait_for("Conte Alessandra");
    let screen = tmux.wait_for("✗ [p] non reimpostare");
    let (what, timeline) = (screen.find("Cosa fare"), screen.find("Cronologia"));
    assert!(timeline.is_none() || what < timeline, "{screen}");
    tmux.keys(&["d"]);
    tmux.wait_for("Testo per la telefonata");
    tmux.wait_for("Buongiorno, parlo con Alessandra Conte?");
    tmux.keys(&["y"]);
    tmux.wait_for("testo copiato negli appunti");
    tmux.keys(&["Escape"]);
    // As above: `q` sent with the Escape would read as Alt-q.
    tmux.wait_gone("Buongiorno, parlo con Alessandra Conte?");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("STTY-DONE");
    assert!(screen.contains("EXITED=0"), "{screen}");
    // Cooked mode again: canonical input is on ("icanon", not "-icanon").
    let after = screen
        .lines()
        .skip_while(|l| !l.starts_with("EXITED="))
        .nth(1);
    assert_eq!(after.map(str::trim), Some("icanon"), "{screen}");
}

#[test]
fn demo_in_a_real_terminal_120x40() {
    drive_demo(120, 40);
}

#[test]
fn demo_in_a_real_terminal_80x24() {
    drive_demo(80, 24);
}

/// The demo's mail loop: three members of a "to chase" list marked, `m`,
/// template and channel, the first message shown, confirmed; the messages
/// go to the demo's outbox, the simulated providers answer, and the receipts
/// come back into the console (status line, dashboard, timeline).
#[test]
fn demo_reminder_loop_in_a_real_terminal() {
    if !Tmux::available() {
        println!("skipped: tmux is not installed (CI installs it)");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_pecdesk");
    // A size of its own: the session's name is made of it (tests run at once).
    let tmux = Tmux::start(
        118,
        40,
        &format!("PECDESK_OPERATOR=tmux-test {bin} demo; echo EXITED=$?; sleep 60"),
    );
    tmux.wait_for("Ultima sincronizzazione: 2");
    // The demo syncs as it starts; the reload after it would drop the marks.
    tmux.wait_for("sincronizzazione completata");
    tmux.keys(&["1"]);
    tmux.wait_for("non migrati");
    for _ in 0..3 {
        tmux.keys(&["Space"]);
    }
    tmux.keys(&["m"]);
    tmux.wait_for("Sollecito agli iscritti");
    let screen = tmux.wait_for("▸ migrazione");
    assert!(screen.contains("3 iscritti"), "{screen}");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("Primo messaggio, come lo leggerà l'iscritto");
    assert!(screen.contains("3 lo riceveranno"), "{screen}");
    assert!(!screen.contains("{nome}"), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("Solleciti agli iscritti");
    tmux.wait_for("completato");
    tmux.keys(&["Escape"]);
    // Acceptance at once, delivery two seconds later, read every three.
    tmux.wait_for("ricevute PEC: ");
    tmux.keys(&[":"]);
    tmux.text("dashboard");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("solleciti 7 giorni: 3 inviati");
    assert!(screen.contains("PEC: "), "{screen}");
    tmux.keys(&["q"]);
    tmux.wait_for("EXITED=0");
}
