//! What a migration prints: kept up to a cap, the rest counted and dropped.
//!
//! wasmtime's `MemoryOutputPipe` fails writes past its capacity, and a Rust guest's `println!`
//! panics on a failed write ("failed printing to stdout"): a migration that prints a lot would
//! fail for it. This pipe accepts every write, keeps the first [`CappedPipe::new`] bytes, and
//! says how many it dropped, so the operator is told instead.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Default)]
struct Buffer {
    kept: Vec<u8>,
    dropped: usize,
}

/// An output stream that keeps at most `capacity` bytes and drops the rest.
#[derive(Clone)]
pub struct CappedPipe {
    capacity: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl CappedPipe {
    /// A pipe that keeps the first `capacity` bytes written to it.
    pub fn new(capacity: usize) -> Self {
        CappedPipe {
            capacity,
            buffer: Arc::default(),
        }
    }

    fn take(&self, bytes: &[u8]) {
        // A poisoned lock only means another writer panicked: keep going.
        let mut b = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.capacity.saturating_sub(b.kept.len());
        let n = room.min(bytes.len());
        b.kept.extend_from_slice(&bytes[..n]);
        b.dropped += bytes.len() - n;
    }

    /// What was kept, and how many bytes were dropped after it.
    pub fn contents(&self) -> (Vec<u8>, usize) {
        let b = self.buffer.lock().unwrap_or_else(|p| p.into_inner());
        (b.kept.clone(), b.dropped)
    }
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_cap_succeed_and_are_counted() {
        let mut pipe = CappedPipe::new(4);
        pipe.write(bytes::Bytes::from_static(b"abc")).unwrap();
        pipe.write(bytes::Bytes::from_static(b"defgh")).unwrap();
        assert_eq!(pipe.contents(), (b"abcd".to_vec(), 4));
    }
}
