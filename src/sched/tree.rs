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
//!   the shared slots ([`Tree::finish`]).
//!
//! So when each thread's blocks come in ascending order, only `O(threads ·
//! log m)` partial results are held at a time instead of all `m`, and a
//! thread touches shared state only where its range meets another's.
//!
//! Node `i` of level `l` is kept in slot `i·2ˡ`, its first leaf's, which is
//! also its left child's slot. A node with two children has a flag, indexed
//! by its right child's first leaf (unique among nodes): the first child to
//! finish stores its value and raises the flag; the second, finding the flag
//! raised, takes both values, combines them and carries the result up.

use std::ops::Range;

use super::sync::{AtomicBool, Ordering, UnsafeCell};

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

/// The slots and flags of one reduction over `m` leaves.
pub(crate) struct Tree<T> {
    slots: Box<[UnsafeCell<Option<T>>]>,
    arrived: Box<[AtomicBool]>,
    root: UnsafeCell<Option<T>>,
}

// SAFETY: a slot is accessed only by the one thread holding the node it
// belongs to (see `finish`), and a value passes between threads only
// through a slot published by a flag's release and taken after its acquire.
// `T: Send` because values move threads.
unsafe impl<T: Send> Sync for Tree<T> {}

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
        Tree {
            slots: (0..leaves).map(|_| UnsafeCell::new(None)).collect(),
            arrived: (0..leaves).map(|_| AtomicBool::new(false)).collect(),
            root: UnsafeCell::new(None),
        }
    }

    /// Gives every leaf of `range`, made by `leaf(b)` in ascending order,
    /// and combines with `reduce(left, right)`: nodes whose leaves all lie in
    /// `range` here, on a stack; the others, up the shared tree, as far as
    /// every node's other child has already been given.
    ///
    /// # Safety
    ///
    /// The ranges given over the tree's life are disjoint (concurrent calls
    /// with disjoint ranges are fine).
    ///
    /// # Panics
    ///
    /// If `range` does not lie within the tree's leaves, or `leaf` or
    /// `reduce` panics (then the leaves of `range` not yet given are lost,
    /// and the root is never made).
    pub(crate) unsafe fn leaves<R: Fn(T, T) -> T>(
        &self,
        range: Range<usize>,
        mut leaf: impl FnMut(usize) -> T,
        reduce: &R,
    ) {
        let m = self.slots.len();
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
                // SAFETY: the nodes given from here are disjoint (each leaf
                // climbs in one chain) and lie in `range`, which is this
                // call's alone (the caller's promise).
                unsafe { self.finish(node, value, reduce) };
            } else {
                waiting.push((node, value));
            }
        }
        debug_assert!(waiting.is_empty(), "every waiting node met its right sibling in the range");
    }

    /// Gives `node` its `value`, then combines up the tree with
    /// `reduce(left, right)` as far as every node's other child has already
    /// been given.
    ///
    /// # Safety
    ///
    /// The nodes given over the tree's life are disjoint: no node is given
    /// twice, nor together with one of its descendants.
    unsafe fn finish<R: Fn(T, T) -> T>(&self, node: Node, value: T, reduce: &R) {
        let (mut node, mut value) = (node, value);
        // This thread holds `node`.
        while node.count > 1 {
            let right = node.i | 1;
            if right < node.count {
                let (own, left, right) = (node.first(node.i), node.first(node.i & !1), node.first(right));
                // SAFETY: the node's slot is touched only by its holder
                // (here, this thread: each node is given once, and a parent
                // is held only by the second of its children), and by the
                // sibling's holder after the flag below says it is set.
                self.slots[own].with_mut(|p| unsafe { *p = Some(value) });
                // Release publishes the slot to the second child; Acquire
                // makes the first child's slot visible to this one.
                if !self.arrived[right].swap(true, Ordering::AcqRel) {
                    return;
                }
                // SAFETY: both children have been given and stored their
                // values (the flag's acquire orders the sibling's store
                // before this), and neither touches its slot again; the
                // parent is held by this thread alone.
                let take = |slot: usize| self.slots[slot].with_mut(|p| unsafe { (*p).take() });
                let (a, b) = (take(left), take(right));
                value = combine(reduce, a.expect("stored before the flag"), b.expect("stored before the flag"));
            }
            node = node.parent();
        }
        // SAFETY: the root is held once: every other chain ended at a node
        // whose other child was still to come.
        self.root.with_mut(|p| unsafe { *p = Some(value) });
    }

    /// The reduction of every leaf, or `None` when some leaf was not given
    /// (or there are none).
    pub(crate) fn into_root(self) -> Option<T> {
        self.root.into_inner()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// The tree's shape, written out: `(a+b)` for each combined pair.
    fn shape(a: String, b: String) -> String {
        format!("({a}+{b})")
    }

    /// Ranges of leaves given by three threads, in every interleaving loom
    /// can make: the root is always the fixed tree over the leaves in order,
    /// and loom reports a data race if a slot is read before its value is
    /// published, or written while another thread reads it.
    fn model(leaves: usize, parts: [&'static [Range<usize>]; 3], expected: &'static str) {
        loom::model(move || {
            let tree = Arc::new(Tree::new(leaves));
            let give = |tree: &Tree<String>, part: &[Range<usize>]| {
                for range in part {
                    // SAFETY: the parts' ranges are disjoint.
                    unsafe { tree.leaves(range.clone(), |b| b.to_string(), &shape) };
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
