//! The model's own thread and its bounded queue. A judgement takes far
//! longer than a frame, so flagged frames wait here (up to the configured
//! capacity); beyond it a frame is handed back at once and its alert goes
//! out `not_judged: busy`, never dropped.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;

use slm_engine::VisionImage;

use crate::judge::{Judge, Judgement};
use shopfloor_core::schema::Inspection;

/// A flagged frame waiting for the judge.
#[derive(Debug, Clone)]
pub struct Job {
    /// The frame, its pixels moved out to `rgb`.
    pub flagged: Inspection,
    /// What the judge sees (the crop or the whole frame), raw RGB.
    pub rgb: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// The filter's findings in words.
    pub instruction: String,
    /// The stored crop, for the alert.
    pub image_ref: Option<String>,
}

/// A judged job.
#[derive(Debug)]
pub struct Done {
    /// The frame, without its pixels.
    pub flagged: Inspection,
    pub image_ref: Option<String>,
    pub judgement: Judgement,
}

/// The judge's thread panicked: the frames it held have no alert.
#[derive(Debug, thiserror::Error)]
#[error("the judge's thread panicked")]
pub struct JudgePanicked;

/// The judge's thread.
pub struct Worker {
    jobs: Option<SyncSender<Job>>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// Starts `judge` on its own thread with room for `capacity` waiting
    /// jobs; each result goes to `done`.
    pub fn start(
        mut judge: Box<dyn Judge>,
        capacity: usize,
        done: impl Fn(Done) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(capacity);
        let thread = std::thread::Builder::new().name("vlm-judge".into()).spawn(move || {
            for job in queue {
                let image = VisionImage { width: job.width, height: job.height, rgb: &job.rgb };
                let judgement = judge.judge(image, &job.instruction);
                done(Done { flagged: job.flagged, image_ref: job.image_ref, judgement });
            }
        })?;
        Ok(Self { jobs: Some(jobs), thread })
    }

    /// Queues `job`; hands it back when the queue is full (or closed).
    pub fn submit(&self, job: Job) -> Result<(), Box<Job>> {
        match &self.jobs {
            Some(jobs) => jobs.try_send(job).map_err(|e| match e {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => Box::new(job),
            }),
            None => Err(Box::new(job)),
        }
    }

    /// Closes the queue: the thread judges what is queued, then ends.
    pub fn close(&mut self) {
        self.jobs = None;
    }

    /// Closes the queue and waits until every queued job is judged.
    pub fn finish(mut self) -> Result<(), JudgePanicked> {
        self.close();
        self.thread.join().map_err(|_| JudgePanicked)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::judge::NotJudged;
    use shopfloor_core::schema::Inspection;

    /// Holds each judgement until the test lets it go.
    struct GatedJudge {
        started: mpsc::Sender<()>,
        gate: Arc<Mutex<mpsc::Receiver<()>>>,
    }

    impl Judge for GatedJudge {
        fn judge(&mut self, _image: VisionImage<'_>, _instruction: &str) -> Judgement {
            let _ = self.started.send(());
            if let Ok(gate) = self.gate.lock() {
                let _ = gate.recv_timeout(Duration::from_secs(5));
            }
            Judgement::NotJudged(NotJudged::Busy)
        }
    }

    fn job(n: u32) -> Job {
        Job {
            flagged: Inspection {
                frame_id: format!("f{n}"),
                ts_ms: 0,
                station: "s".into(),
                line: "l".into(),
                width: 1,
                height: 1,
                score: 1.0,
                threshold: 0.5,
                regions: Vec::new(),
                rgb: Vec::new(),
            },
            rgb: vec![0; 3],
            width: 1,
            height: 1,
            instruction: String::new(),
            image_ref: None,
        }
    }

    #[test]
    fn a_full_queue_hands_the_frame_back_and_finish_judges_the_rest() {
        let (started_tx, started) = mpsc::channel();
        let (open, gate) = mpsc::channel();
        let judge = GatedJudge { started: started_tx, gate: Arc::new(Mutex::new(gate)) };
        let results = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&results);
        let worker =
            Worker::start(Box::new(judge), 1, move |done| sink.lock().unwrap().push(done.flagged.frame_id)).unwrap();
        worker.submit(job(1)).unwrap();
        started.recv_timeout(Duration::from_secs(5)).unwrap();
        worker.submit(job(2)).unwrap();
        let refused = worker.submit(job(3)).unwrap_err();
        assert_eq!(refused.flagged.frame_id, "f3");
        open.send(()).unwrap();
        open.send(()).unwrap();
        worker.finish().unwrap();
        assert_eq!(*results.lock().unwrap(), vec!["f1".to_owned(), "f2".to_owned()]);
    }
}
