//! [`map_reduce`](super::map_reduce)'s fixed pairwise tree, combined as its
//! leaves arrive.
//!
//! Level 0 holds the `m` leaves (block results); node `i` of level `l + 1`
//! combines nodes `2i` and `2i + 1` of level `l`, or is node `2i` itself
//! when that is level `l`'s odd last one. This is the same tree as
//! combining the whole of each level in turn, but a node is combined as
//! soon as both its children exist:
//!
//! - within one range of leaves handed to one thread, by that thread, on a
//!   stack of its own ([`Tree::leaves`]);
//! - across ranges, by the thread that finished the second child, through
//!   a small shared map ([`Tree::finish`]).
//!
//! So when each thread's blocks come in ascending order, only `O(threads ·
//! log m)` partial results are held at a time instead of all `m`, and a
//! thread touches shared state only where its range meets another's.
//!
//! A node given to the shared tree waits for its sibling at their pair,
//! named by the right child's first leaf (unique among pairs). The first of
//! the two to come leaves its value there, the second takes it, combines
//! them and climbs on. Only the nodes actually waiting are held, in a few
//! locked shards ([`Waiting`]), never a slot per leaf: with ascending blocks,
//! `map_reduce` over `10⁹` one-item blocks holds a few hundred values. Every
//! access is under a lock, so there is no `unsafe` here, and an executor
//! that breaks its contract (a block run twice, or never) can make a wrong
//! root or none, but no data race.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::PoisonError;

use super::sync::{CachePadded, Mutex};

/// `reduce(left, right)`, from one copy of the machine code for every pair.
///
/// Where the compiler inlines a closure such as `|a, b| a + b`, it may swap
/// a commutative operation's operands, and when both are NaN, which payload
/// comes out depends on that order. Combining every pair here, never
/// inlined (both callers pass the same `R`, so there is one copy), keeps a
/// reduction's bits, NaN payloads included, the same on every executor.
#[inline(never)]
fn combine<T, R: Fn(T, T) -> T>(reduce: &R, left: T, right: T) -> T {
    reduce(left, right)
}

/// The most shards a tree has (one per pair when it has fewer): enough
/// that threads meeting at different pairs rarely take the same lock.
const SHARDS: usize = 16;

/// Nodes waiting for their sibling, by pair: the first [`FEW`] in the
/// shard itself, beside its lock, scanned; the rest in a hash map. When
/// blocks come in ascending order a shard holds none or one at a time, and
/// finding it inline keeps a meeting near the cost of the atomic swap it
/// replaced: with every block meeting another thread's (`dynamic,1`, two
/// threads), `summarize` 2.5% and one-item pairwise tasks 10% slower,
/// where a hash map alone made `summarize` 14% slower.
struct Waiting<T> {
    pairs: [usize; FEW],
    values: [Option<T>; FEW],
    more: HashMap<usize, T, BuildHasherDefault<PairHasher>>,
}

/// How many waiting nodes a shard keeps inline.
const FEW: usize = 4;

/// A free entry of [`Waiting::pairs`] (no pair is named `usize::MAX`: pairs are leaves).
const FREE: usize = usize::MAX;

impl<T> Waiting<T> {
    fn new() -> Self {
        Waiting { pairs: [FREE; FEW], values: std::array::from_fn(|_| None), more: HashMap::default() }
    }

    /// The node waiting at `pair`, taken.
    fn take(&mut self, pair: usize) -> Option<T> {
        match self.pairs.iter().position(|&p| p == pair) {
            Some(i) => {
                self.pairs[i] = FREE;
                self.values[i].take()
            }
            None if self.more.is_empty() => None,
            None => self.more.remove(&pair),
        }
    }

    /// Leaves `value` waiting at `pair`.
    fn leave(&mut self, pair: usize, value: T) {
        match self.pairs.iter().position(|&p| p == FREE) {
            Some(i) => {
                self.pairs[i] = pair;
                self.values[i] = Some(value);
            }
            None => {
                self.more.insert(pair, value);
            }
        }
    }

    #[cfg(any(test, loom))]
    fn len(&self) -> usize {
        self.pairs.iter().filter(|&&p| p != FREE).count() + self.more.len()
    }
}

/// The reduction of `m` leaves, combined as they are given.
pub(crate) struct Tree<T> {
    m: usize,
    /// Nodes waiting for their sibling, in the shard [`mix`] of the pair picks.
    shards: Box<[CachePadded<Mutex<Waiting<T>>>]>,
    root: Mutex<Option<T>>,
}

/// Node `i` of `level`, which has `count` nodes.
#[derive(Clone, Copy)]
struct Node {
    level: u32,
    i: usize,
    count: usize,
}

impl Node {
    fn leaf(i: usize, m: usize) -> Node {
        Node { level: 0, i, count: m }
    }

    fn parent(self) -> Node {
        Node { level: self.level + 1, i: self.i / 2, count: self.count.div_ceil(2) }
    }

    /// The first leaf of node `i` of this level.
    fn first(self, i: usize) -> usize {
        i << self.level
    }
}

impl<T> Tree<T> {
    /// A tree over `leaves` leaves, none given.
    pub(crate) fn new(leaves: usize) -> Self {
        let shards = SHARDS.min(leaves.saturating_sub(1)).max(1);
        Tree {
            m: leaves,
            shards: (0..shards).map(|_| CachePadded(Mutex::new(Waiting::new()))).collect(),
            root: Mutex::new(None),
        }
    }

    /// Gives every leaf of `range`, made by `leaf(b)` in ascending order,
    /// and combines with `reduce(left, right)`: nodes whose leaves all lie in
    /// `range` here, on a stack; the others, up the shared tree, as far as
    /// every node's other child has already been given.
    ///
    /// Concurrent calls are fine. The ranges given over the tree's life
    /// must be disjoint for the root to be every leaf's reduction once.
    ///
    /// # Panics
    ///
    /// If `range` does not lie within the tree's leaves, or `leaf` or
    /// `reduce` panics (then the leaves of `range` not yet given are lost,
    /// and the root is never made).
    pub(crate) fn leaves<R: Fn(T, T) -> T>(&self, range: Range<usize>, mut leaf: impl FnMut(usize) -> T, reduce: &R) {
        let m = self.m;
        assert!(range.start <= range.end && range.end <= m, "leaves {range:?} of a tree of {m}");
        // Left children whose right sibling lies wholly in `range`, still to
        // come: their levels decrease from bottom to top.
        let mut waiting: Vec<(Node, T)> = Vec::new();
        for b in range.clone() {
            let (mut node, mut value) = (Node::leaf(b, m), leaf(b));
            // Climb while the other child is here: a left sibling on the
            // stack's top (it is there when it lies wholly in `range`, made
            // just before this node's leaves), or none at all (the level's odd
            // last one is carried up unchanged). Then give the node to the
            // shared tree, or leave it to wait for a right sibling in `range`.
            let give = loop {
                if node.count == 1 {
                    break true;
                }
                if node.i % 2 == 1 {
                    match waiting.pop_if(|(top, _)| top.level == node.level && top.i + 1 == node.i) {
                        Some((_, left)) => value = combine(reduce, left, value),
                        None => break true,
                    }
                } else if node.i + 1 < node.count {
                    break node.first(node.i + 2).min(m) > range.end;
                }
                node = node.parent();
            };
            if give {
                self.finish(node, value, reduce);
            } else {
                waiting.push((node, value));
            }
        }
        debug_assert!(waiting.is_empty(), "every waiting node met its right sibling in the range");
    }

    /// Gives `node` its `value`, then combines up the tree with
    /// `reduce(left, right)` as far as every node's other child has already
    /// been given.
    fn finish<R: Fn(T, T) -> T>(&self, node: Node, value: T, reduce: &R) {
        let (mut node, mut value) = (node, value);
        while node.count > 1 {
            let right = node.i | 1;
            if right < node.count {
                let pair = node.first(right);
                let shard = &self.shards[mix(pair) as usize % self.shards.len()];
                let mut waiting = shard.lock().unwrap_or_else(PoisonError::into_inner);
                // The lock orders the two children: the first leaves its
                // value, the second finds it.
                let Some(sibling) = waiting.take(pair) else {
                    waiting.leave(pair, value);
                    return;
                };
                drop(waiting);
                value = if node.i == right { combine(reduce, sibling, value) } else { combine(reduce, value, sibling) };
            }
            node = node.parent();
        }
        *self.root.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
    }

    /// How many nodes wait for their sibling.
    #[cfg(any(test, loom))]
    fn waiting(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len()).sum()
    }

    /// The reduction of every leaf, or `None` when some leaf was not given
    /// (or there are none).
    pub(crate) fn into_root(self) -> Option<T> {
        self.root.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `splitmix64`'s finalizer: every bit of `pair` moves every bit of the
/// hash. Pairs of high levels are multiples of large powers of two, which a
/// hash map's low-bit buckets would otherwise pile up.
fn mix(pair: usize) -> u64 {
    let mut z = pair as u64;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The waiting map's hasher: [`mix`] of the pair, the only key it hashes.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = mix((self.0 << 8 | u64::from(byte)) as usize);
        }
    }

    fn write_usize(&mut self, pair: usize) {
        self.0 = mix(pair);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The tree's shape, written out: `(a+b)` for each combined pair (the
/// tests' `reduce`).
#[cfg(test)]
fn shape(a: String, b: String) -> String {
    format!("({a}+{b})")
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Ranges of leaves given by three threads, in every interleaving loom
    /// can make: the root is always the fixed tree over the leaves in order
    /// (two siblings never both wait, nor both take), and nothing is left
    /// waiting.
    fn model(leaves: usize, parts: [&'static [Range<usize>]; 3], expected: &'static str) {
        loom::model(move || {
            let tree = Arc::new(Tree::new(leaves));
            let give = |tree: &Tree<String>, part: &[Range<usize>]| {
                for range in part {
                    tree.leaves(range.clone(), |b| b.to_string(), &shape);
                }
            };
            let spawn = |part: &'static [Range<usize>]| {
                let tree = tree.clone();
                loom::thread::spawn(move || give(&tree, part))
            };
            let (a, b) = (spawn(parts[1]), spawn(parts[2]));
            give(&tree, parts[0]);
            a.join().unwrap();
            b.join().unwrap();
            let tree = Arc::try_unwrap(tree).ok().expect("threads joined");
            assert_eq!(tree.waiting(), 0, "nothing left waiting");
            assert_eq!(tree.into_root().as_deref(), Some(expected));
        });
    }

    #[test]
    fn four_single_leaves_on_three_threads_make_the_fixed_tree() {
        model(4, [&[0..1], &[3..4, 1..2], &[2..3]], "((0+1)+(2+3))");
    }

    #[test]
    fn ranges_combine_inside_and_meet_across_threads() {
        model(4, [&[2..3], &[0..2], &[3..4]], "((0+1)+(2+3))");
        model(5, [&[4..5], &[0..1], &[1..4]], "(((0+1)+(2+3))+4)");
        model(7, [&[3..7], &[0..1], &[1..3]], "(((0+1)+(2+3))+((4+5)+6))");
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The fixed tree over `0..m`, written out level by level.
    fn plain(m: usize) -> String {
        let mut level: Vec<String> = (0..m).map(|b| b.to_string()).collect();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|p| if p.len() == 2 { format!("({}+{})", p[0], p[1]) } else { p[0].clone() })
                .collect();
        }
        level.pop().unwrap_or_default()
    }

    /// Leaves given one at a time, last first: each pair's right child comes
    /// first and waits, so at most one node per level waits at once, and
    /// every one is taken by the end.
    #[test]
    fn single_leaves_given_backwards_make_the_fixed_tree_and_leave_nothing_waiting() {
        for m in [1, 2, 3, 5, 8, 13, 100, 1000] {
            let tree = Tree::new(m);
            let mut most = 0;
            for b in (0..m).rev() {
                tree.leaves(b..b + 1, |b| b.to_string(), &shape);
                most = most.max(tree.waiting());
            }
            let levels = usize::BITS - (m - 1).leading_zeros();
            assert!(most <= levels as usize, "{most} waiting at once over {m} leaves");
            assert_eq!(tree.waiting(), 0, "{m} leaves");
            assert_eq!(tree.into_root(), Some(plain(m)), "{m} leaves");
        }
    }
}
