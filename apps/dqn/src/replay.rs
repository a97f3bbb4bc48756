//! Replay memories: the agent learns from random minibatches of past transitions instead of the
//! last few, which breaks the correlation between consecutive steps (Mnih et al. 2015).
//!
//! - [`VectorReplay`] keeps small observations (classic control) whole.
//! - [`FrameReplay`] keeps Atari observations, stacks of the last 4 frames, by storing each 84x84
//!   frame once and rebuilding the stacks by index when sampling: a million transitions take
//!   about 7 GB instead of 28 (each frame would otherwise be stored in 8 stacks: 4 as an
//!   observation, 4 as a next observation).

use crate::env::{Obs, ObsSpace};
use anyhow::Result;
use rand::Rng;
use tch::{Device, Tensor};

/// A minibatch of transitions `(s, a, r, s', terminated)`, on a device.
#[derive(Debug)]
pub struct Batch {
    /// Observations `s`: `[B, ...]`, float for vectors, u8 for frames.
    pub obs: Tensor,
    /// Actions taken, `[B]` i64.
    pub actions: Tensor,
    /// Rewards received, `[B]` f32.
    pub rewards: Tensor,
    /// Next observations `s'`.
    pub next_obs: Tensor,
    /// 1.0 where `s'` is terminal (nothing to bootstrap from), else 0.0; `[B]` f32. An episode
    /// cut by a time limit is not terminal: its value still bootstraps from `s'`.
    pub terminated: Tensor,
}

/// A ring buffer of transitions between small observation vectors.
#[derive(Debug)]
pub struct VectorReplay {
    capacity: usize,
    dim: usize,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<i64>,
    rewards: Vec<f32>,
    terminated: Vec<f32>,
    cursor: usize,
    len: usize,
}

impl VectorReplay {
    /// Bytes it holds (all allocated at creation).
    pub fn bytes(&self) -> usize {
        use std::mem::size_of_val;
        size_of_val(&self.obs[..])
            + size_of_val(&self.next_obs[..])
            + size_of_val(&self.actions[..])
            + size_of_val(&self.rewards[..])
            + size_of_val(&self.terminated[..])
    }

    /// An empty buffer for `capacity` transitions between `dim`-dimensional observations.
    pub fn new(capacity: usize, dim: usize) -> VectorReplay {
        VectorReplay {
            capacity,
            dim,
            obs: vec![0.0; capacity * dim],
            next_obs: vec![0.0; capacity * dim],
            actions: vec![0; capacity],
            rewards: vec![0.0; capacity],
            terminated: vec![0.0; capacity],
            cursor: 0,
            len: 0,
        }
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores one transition, overwriting the oldest when full.
    pub fn push(&mut self, obs: &[f32], action: i64, reward: f32, terminated: bool, next: &[f32]) {
        let (i, d) = (self.cursor, self.dim);
        self.obs[i * d..(i + 1) * d].copy_from_slice(obs);
        self.next_obs[i * d..(i + 1) * d].copy_from_slice(next);
        self.actions[i] = action;
        self.rewards[i] = reward;
        self.terminated[i] = f32::from(u8::from(terminated));
        self.cursor = (self.cursor + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }

    /// `batch` transitions drawn uniformly with replacement.
    ///
    /// # Panics
    /// If the buffer is empty.
    pub fn sample(&self, batch: usize, rng: &mut impl Rng, device: Device) -> Batch {
        assert!(self.len > 0, "sampling from an empty replay buffer");
        let idx: Vec<usize> = (0..batch).map(|_| rng.random_range(0..self.len)).collect();
        let rows = |data: &[f32]| {
            let v: Vec<f32> = idx
                .iter()
                .flat_map(|&i| &data[i * self.dim..(i + 1) * self.dim])
                .copied()
                .collect();
            Tensor::from_slice(&v).view([batch as i64, self.dim as i64]).to_device(device)
        };
        let pick = |data: &[f32]| {
            let v: Vec<f32> = idx.iter().map(|&i| data[i]).collect();
            Tensor::from_slice(&v).to_device(device)
        };
        let actions: Vec<i64> = idx.iter().map(|&i| self.actions[i]).collect();
        Batch {
            obs: rows(&self.obs),
            actions: Tensor::from_slice(&actions).to_device(device),
            rewards: pick(&self.rewards),
            next_obs: rows(&self.next_obs),
            terminated: pick(&self.terminated),
        }
    }
}

/// Named tensors to and from a replay memory (for `--save-buffer`).
fn scalar(v: usize) -> Tensor {
    Tensor::from_slice(&[v as i64])
}

fn get<'a>(tensors: &'a [(String, Tensor)], name: &str) -> anyhow::Result<&'a Tensor> {
    tensors
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| anyhow::anyhow!("the saved replay memory has no {name:?}"))
}

fn get_vec<T: tch::kind::Element + Copy>(
    tensors: &[(String, Tensor)],
    name: &str,
    len: usize,
) -> anyhow::Result<Vec<T>> {
    let t = get(tensors, name)?;
    anyhow::ensure!(
        t.numel() == len,
        "the saved replay memory's {name:?} has {} values, not {len}",
        t.numel()
    );
    Ok(Vec::<T>::try_from(&t.flatten(0, -1))?)
}

fn get_scalar(tensors: &[(String, Tensor)], name: &str) -> anyhow::Result<usize> {
    Ok(get_vec::<i64>(tensors, name, 1)?[0] as usize)
}

impl VectorReplay {
    /// The memory as named tensors.
    pub fn to_tensors(&self) -> Vec<(String, Tensor)> {
        vec![
            ("obs".into(), Tensor::from_slice(&self.obs)),
            ("next_obs".into(), Tensor::from_slice(&self.next_obs)),
            ("actions".into(), Tensor::from_slice(&self.actions)),
            ("rewards".into(), Tensor::from_slice(&self.rewards)),
            ("terminated".into(), Tensor::from_slice(&self.terminated)),
            ("cursor".into(), scalar(self.cursor)),
            ("len".into(), scalar(self.len)),
        ]
    }

    /// Restores a memory of this capacity and dimension from [`VectorReplay::to_tensors`].
    pub fn load_tensors(&mut self, t: &[(String, Tensor)]) -> anyhow::Result<()> {
        let (c, d) = (self.capacity, self.dim);
        self.obs = get_vec(t, "obs", c * d)?;
        self.next_obs = get_vec(t, "next_obs", c * d)?;
        self.actions = get_vec(t, "actions", c)?;
        self.rewards = get_vec(t, "rewards", c)?;
        self.terminated = get_vec(t, "terminated", c)?;
        self.cursor = get_scalar(t, "cursor")? % c;
        self.len = get_scalar(t, "len")?.min(c);
        Ok(())
    }
}

/// Where each stored frame sits in its episode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// The first frame of an episode: stacks do not reach back past it.
    episode_start: bool,
    /// A transition starts here: `actions/rewards/terminated` are set and the next slot holds
    /// the frame that followed.
    has_next: bool,
}

/// A ring buffer of single frames from which stacks of the last `stack` frames are rebuilt.
///
/// Feed it as the episodes run: [`FrameReplay::start_episode`] with the first frame after a
/// reset, then [`FrameReplay::push`] with each action, its reward and the frame that followed.
/// Each frame is stored once. A stack whose history reaches back past the episode's first frame
/// repeats that first frame, as a frame-stacking wrapper does after a reset, so no frame of the
/// previous episode leaks into a stack.
#[derive(Debug)]
pub struct FrameReplay {
    capacity: usize,
    stack: usize,
    frame_len: usize,
    height: i64,
    width: i64,
    frames: Vec<u8>,
    slots: Vec<Slot>,
    actions: Vec<i64>,
    rewards: Vec<f32>,
    terminated: Vec<f32>,
    /// Where the next frame goes.
    cursor: usize,
    /// Slots written so far, at most `capacity`.
    filled: usize,
    /// Transitions that can be sampled.
    transitions: usize,
}

impl FrameReplay {
    /// Bytes it holds (all allocated at creation).
    pub fn bytes(&self) -> usize {
        use std::mem::size_of_val;
        size_of_val(&self.frames[..])
            + size_of_val(&self.slots[..])
            + size_of_val(&self.actions[..])
            + size_of_val(&self.rewards[..])
            + size_of_val(&self.terminated[..])
    }

    /// An empty buffer of `capacity` frames of `height x width`, stacked by `stack`.
    ///
    /// # Panics
    /// If `capacity` is not larger than `stack` or `stack` is 0.
    pub fn new(capacity: usize, stack: usize, height: i64, width: i64) -> FrameReplay {
        assert!(stack > 0 && capacity > stack, "a frame buffer needs capacity > stack > 0");
        let frame_len = (height * width) as usize;
        FrameReplay {
            capacity,
            stack,
            frame_len,
            height,
            width,
            frames: vec![0; capacity * frame_len],
            slots: vec![Slot::default(); capacity],
            actions: vec![0; capacity],
            rewards: vec![0.0; capacity],
            terminated: vec![0.0; capacity],
            cursor: 0,
            filled: 0,
            transitions: 0,
        }
    }

    /// Transitions held (an upper bound on the distinct ones that can be sampled).
    pub fn len(&self) -> usize {
        self.transitions
    }

    /// True when no transition is held.
    pub fn is_empty(&self) -> bool {
        self.transitions == 0
    }

    fn prev(&self, i: usize) -> usize {
        (i + self.capacity - 1) % self.capacity
    }

    fn write(&mut self, frame: &[u8], episode_start: bool) {
        assert_eq!(frame.len(), self.frame_len, "frame of the wrong size");
        let i = self.cursor;
        if self.slots[i].has_next {
            self.transitions -= 1; // the transition stored here is overwritten
        }
        self.frames[i * self.frame_len..(i + 1) * self.frame_len].copy_from_slice(frame);
        self.slots[i] = Slot { episode_start, has_next: false };
        self.cursor = (i + 1) % self.capacity;
        self.filled = (self.filled + 1).min(self.capacity);
    }

    /// Stores the first frame of a new episode.
    pub fn start_episode(&mut self, frame: &[u8]) {
        self.write(frame, true);
    }

    /// Stores a step taken from the latest frame: its action, reward and terminal flag, and the
    /// frame that followed.
    ///
    /// # Panics
    /// If no episode was started.
    pub fn push(&mut self, action: i64, reward: f32, terminated: bool, next: &[u8]) {
        assert!(self.filled > 0, "push before start_episode");
        let current = self.prev(self.cursor);
        self.write(next, false);
        self.actions[current] = action;
        self.rewards[current] = reward;
        self.terminated[current] = f32::from(u8::from(terminated));
        self.slots[current].has_next = true;
        self.transitions += 1;
    }

    /// The memory as named tensors.
    pub fn to_tensors(&self) -> Vec<(String, Tensor)> {
        let flags = |f: fn(&Slot) -> bool| -> Vec<u8> {
            self.slots.iter().map(|s| u8::from(f(s))).collect()
        };
        vec![
            ("frames".into(), Tensor::from_slice(&self.frames)),
            ("episode_start".into(), Tensor::from_slice(&flags(|s| s.episode_start))),
            ("has_next".into(), Tensor::from_slice(&flags(|s| s.has_next))),
            ("actions".into(), Tensor::from_slice(&self.actions)),
            ("rewards".into(), Tensor::from_slice(&self.rewards)),
            ("terminated".into(), Tensor::from_slice(&self.terminated)),
            ("cursor".into(), scalar(self.cursor)),
            ("filled".into(), scalar(self.filled)),
            ("transitions".into(), scalar(self.transitions)),
        ]
    }

    /// Restores a memory of this capacity and frame size from [`FrameReplay::to_tensors`].
    pub fn load_tensors(&mut self, t: &[(String, Tensor)]) -> anyhow::Result<()> {
        let c = self.capacity;
        self.frames = get_vec(t, "frames", c * self.frame_len)?;
        let starts: Vec<u8> = get_vec(t, "episode_start", c)?;
        let nexts: Vec<u8> = get_vec(t, "has_next", c)?;
        self.slots = starts
            .iter()
            .zip(&nexts)
            .map(|(&s, &n)| Slot { episode_start: s != 0, has_next: n != 0 })
            .collect();
        self.actions = get_vec(t, "actions", c)?;
        self.rewards = get_vec(t, "rewards", c)?;
        self.terminated = get_vec(t, "terminated", c)?;
        self.cursor = get_scalar(t, "cursor")? % c;
        self.filled = get_scalar(t, "filled")?.min(c);
        self.transitions = self.slots.iter().filter(|s| s.has_next).count();
        Ok(())
    }

    /// The slots of the stack ending at slot `i`, oldest first.
    fn stack_slots(&self, i: usize) -> Vec<usize> {
        let mut slots = vec![0; self.stack];
        let mut j = i;
        for k in (0..self.stack).rev() {
            slots[k] = j;
            if !self.slots[j].episode_start {
                j = self.prev(j);
            }
        }
        slots
    }

    /// Whether a transition starting at slot `i` can be sampled: it has a next frame, and its
    /// stack's history has not been overwritten by newer frames.
    fn valid(&self, i: usize) -> bool {
        if !self.slots[i].has_next {
            return false;
        }
        if self.filled < self.capacity {
            return true;
        }
        // Full: the oldest slot is the cursor, and the stack's history must not run past it
        // into the newest frames.
        let age = |s: usize| (s + self.capacity - self.cursor) % self.capacity;
        self.stack_slots(i).iter().all(|&s| age(s) <= age(i))
    }

    /// The stack of frames ending at slot `i`, `[stack, height, width]`, appended to `out`.
    fn gather(&self, i: usize, out: &mut Vec<u8>) {
        for s in self.stack_slots(i) {
            out.extend_from_slice(&self.frames[s * self.frame_len..(s + 1) * self.frame_len]);
        }
    }

    /// The observation stack ending at the latest frame (what the agent acts on),
    /// `[stack, height, width]` u8.
    pub fn latest_stack(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.stack * self.frame_len);
        self.gather(self.prev(self.cursor), &mut out);
        out
    }

    /// `batch` transitions drawn uniformly with replacement among the valid ones.
    ///
    /// # Panics
    /// If no transition is held.
    pub fn sample(&self, batch: usize, rng: &mut impl Rng, device: Device) -> Batch {
        assert!(self.transitions > 0, "sampling from an empty replay buffer");
        let mut idx = Vec::with_capacity(batch);
        while idx.len() < batch {
            let i = rng.random_range(0..self.filled);
            if self.valid(i) {
                idx.push(i);
            }
        }
        let mut obs = Vec::with_capacity(batch * self.stack * self.frame_len);
        let mut next = Vec::with_capacity(batch * self.stack * self.frame_len);
        for &i in &idx {
            self.gather(i, &mut obs);
            self.gather((i + 1) % self.capacity, &mut next);
        }
        let shape = [batch as i64, self.stack as i64, self.height, self.width];
        let frames = |v: Vec<u8>| Tensor::from_slice(&v).view(shape).to_device(device);
        let pick = |data: &[f32]| {
            Tensor::from_slice(&idx.iter().map(|&i| data[i]).collect::<Vec<_>>()).to_device(device)
        };
        let actions: Vec<i64> = idx.iter().map(|&i| self.actions[i]).collect();
        Batch {
            obs: frames(obs),
            actions: Tensor::from_slice(&actions).to_device(device),
            rewards: pick(&self.rewards),
            next_obs: frames(next),
            terminated: pick(&self.terminated),
        }
    }
}

/// The replay memory of either kind.
pub enum Memory {
    Vector(VectorReplay),
    Frames(FrameReplay),
}

impl Memory {
    /// An empty memory for observations of `space`.
    pub fn new(space: ObsSpace, capacity: usize) -> Memory {
        match space {
            ObsSpace::Vector(n) => Memory::Vector(VectorReplay::new(capacity, n)),
            ObsSpace::Frame { height, width } => {
                Memory::Frames(FrameReplay::new(capacity, 4, height, width))
            }
        }
    }

    /// Transitions held.
    pub fn len(&self) -> usize {
        match self {
            Memory::Vector(m) => m.len(),
            Memory::Frames(m) => m.len(),
        }
    }

    /// True when no transition is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records the first observation of an episode.
    pub fn start_episode(&mut self, obs: &Obs) {
        if let Memory::Frames(m) = self {
            m.start_episode(obs.frame());
        }
    }

    /// Records a transition.
    pub fn push(&mut self, obs: &Obs, action: usize, reward: f32, terminated: bool, next: &Obs) {
        match self {
            Memory::Vector(m) => {
                m.push(obs.vector(), action as i64, reward, terminated, next.vector())
            }
            Memory::Frames(m) => m.push(action as i64, reward, terminated, next.frame()),
        }
    }

    /// Bytes it holds.
    pub fn bytes(&self) -> usize {
        match self {
            Memory::Vector(m) => m.bytes(),
            Memory::Frames(m) => m.bytes(),
        }
    }

    /// The memory as named tensors.
    pub fn to_tensors(&self) -> Vec<(String, Tensor)> {
        match self {
            Memory::Vector(m) => m.to_tensors(),
            Memory::Frames(m) => m.to_tensors(),
        }
    }

    /// Restores the memory from [`Memory::to_tensors`].
    pub fn load_tensors(&mut self, tensors: &[(String, Tensor)]) -> Result<()> {
        match self {
            Memory::Vector(m) => m.load_tensors(tensors),
            Memory::Frames(m) => m.load_tensors(tensors),
        }
    }

    /// A uniform minibatch.
    pub fn sample(&self, batch: usize, rng: &mut impl Rng, device: Device) -> Batch {
        match self {
            Memory::Vector(m) => m.sample(batch, rng, device),
            Memory::Frames(m) => m.sample(batch, rng, device),
        }
    }
}
