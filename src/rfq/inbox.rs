//! A stream's command inbox: a small bounded queue from any number of
//! senders (the operator's handle, subscribers, the stopper) to the one
//! session. It allocates nothing until a command arrives: thousands of
//! streams each keep one, and almost none ever receives a command, while
//! a tokio channel allocates a block of 32 slots (~1 KB) when it is made.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::Notify;

/// A new inbox holding at most `capacity` commands (at least one) and its
/// first sender.
pub fn channel<T>(capacity: usize) -> (CommandSender<T>, Inbox<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        capacity: capacity.max(1),
        senders: AtomicUsize::new(1),
        receiver_gone: AtomicBool::new(false),
        to_receiver: Notify::new(),
        to_senders: Notify::new(),
    });
    (
        CommandSender {
            shared: shared.clone(),
        },
        Inbox { shared },
    )
}

struct Shared<T> {
    queue: Mutex<VecDeque<T>>,
    capacity: usize,
    /// Live senders: the inbox is closed for the session when none is left.
    senders: AtomicUsize,
    /// The session is gone: sending is refused.
    receiver_gone: AtomicBool,
    /// A command arrived or the last sender left (a permit is kept if the
    /// session is not waiting, so no wake-up is lost).
    to_receiver: Notify,
    /// Room was made or the session left.
    to_senders: Notify,
}

impl<T> Shared<T> {
    fn queue(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sends commands to one stream; cloning it adds a sender.
pub struct CommandSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for CommandSender<T> {
    fn clone(&self) -> CommandSender<T> {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        CommandSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for CommandSender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.to_receiver.notify_one();
        }
    }
}

impl<T> CommandSender<T> {
    /// Queues `command` if there is room and the session still listens.
    pub fn try_send(&self, command: T) -> Result<(), TrySendError<T>> {
        {
            let mut queue = self.shared.queue();
            // Asked under the lock the receiver's drop takes too, so a
            // command is never queued after the session has gone.
            if self.is_closed() {
                return Err(TrySendError::Closed(command));
            }
            if queue.len() >= self.shared.capacity {
                return Err(TrySendError::Full(command));
            }
            queue.push_back(command);
        }
        self.shared.to_receiver.notify_one();
        Ok(())
    }

    /// Queues `command`, waiting for room; refused once the session is
    /// gone.
    pub async fn send(&self, mut command: T) -> Result<(), SendError<T>> {
        loop {
            // Registered before trying, so room made in between wakes it.
            let room = self.shared.to_senders.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_send(command) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(SendError(back)),
                Err(TrySendError::Full(back)) => command = back,
            }
            room.await;
        }
    }

    /// The session has ended (its inbox was dropped).
    pub fn is_closed(&self) -> bool {
        self.shared.receiver_gone.load(Ordering::Acquire)
    }

    /// Room left for commands now.
    pub fn capacity(&self) -> usize {
        self.shared
            .capacity
            .saturating_sub(self.shared.queue().len())
    }

    /// The most commands the inbox holds.
    pub fn max_capacity(&self) -> usize {
        self.shared.capacity
    }
}

/// The session's end of the inbox.
pub struct Inbox<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Inbox<T> {
    /// The next command in the order sent; `None` once every sender is
    /// gone and nothing is left.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(command) = self.shared.queue().pop_front() {
                self.shared.to_senders.notify_waiters();
                return Some(command);
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                return None;
            }
            self.shared.to_receiver.notified().await;
        }
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        let mut queue = self.shared.queue();
        self.shared.receiver_gone.store(true, Ordering::Release);
        queue.clear();
        drop(queue);
        self.shared.to_senders.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(id: &'static str) -> &'static str {
        id
    }

    #[tokio::test]
    async fn commands_arrive_in_order_and_the_inbox_closes_when_the_senders_go() {
        let (sender, mut inbox) = channel(2);
        let second = sender.clone();
        sender.try_send(accept("Q-1")).unwrap();
        second.try_send("stop").unwrap();
        assert_eq!(
            sender.try_send(accept("Q-3")),
            Err(TrySendError::Full(accept("Q-3")))
        );
        assert_eq!((sender.capacity(), sender.max_capacity()), (0, 2));
        assert_eq!(inbox.recv().await, Some(accept("Q-1")));
        assert_eq!(inbox.recv().await, Some("stop"));
        drop(sender);
        drop(second);
        assert_eq!(inbox.recv().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_receiver_wakes_for_a_command_and_a_full_sender_for_room() {
        let (sender, mut inbox) = channel(1);
        let receiving = tokio::spawn(async move {
            let first = inbox.recv().await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            let second = inbox.recv().await;
            (first, second, inbox)
        });
        tokio::task::yield_now().await;
        sender.try_send(accept("Q-1")).unwrap();
        // Full until the receiver has taken Q-1: this waits for the room.
        sender.send(accept("Q-2")).await.unwrap();
        let (first, second, inbox) = receiving.await.unwrap();
        assert_eq!(first, Some(accept("Q-1")));
        assert_eq!(second, Some(accept("Q-2")));
        drop(inbox);
        assert!(sender.is_closed());
        assert_eq!(sender.send("stop").await, Err(SendError("stop")));
    }

    #[test]
    fn an_unused_inbox_holds_no_queue_memory() {
        let (sender, _inbox) = channel::<&str>(16);
        assert_eq!(sender.shared.queue().capacity(), 0);
    }
}
