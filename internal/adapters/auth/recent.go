package auth

import (
	"hash/maphash"
	"sync"
)

// recent is a bounded, concurrency-safe map that forgets what was not used
// lately. Each shard keeps two generations: lookups hit the current one,
// fall back to the previous one (promoting the entry), and when the current
// generation is full it becomes the previous one and the old previous
// generation is dropped whole. An entry untouched for a full generation is
// gone; one in use survives every rotation. Memory is at most capacity
// entries (twice half of it per shard), whatever the number of distinct keys,
// and every operation is O(1) with no background goroutine to own.
type recent[K comparable, V any] struct {
	seed   maphash.Seed
	shards []recentShard[K, V]
}

type recentShard[K comparable, V any] struct {
	mu        sync.Mutex
	cur, prev map[K]V
	limit     int // entries per generation
}

const recentShards = 32

func newRecent[K comparable, V any](capacity int) *recent[K, V] {
	per := max(capacity/recentShards/2, 1)
	r := &recent[K, V]{seed: maphash.MakeSeed(), shards: make([]recentShard[K, V], recentShards)}
	for i := range r.shards {
		r.shards[i] = recentShard[K, V]{cur: make(map[K]V), prev: make(map[K]V), limit: per}
	}
	return r
}

func (r *recent[K, V]) shard(k K) *recentShard[K, V] {
	return &r.shards[maphash.Comparable(r.seed, k)%recentShards]
}

// getOrCreate returns the value stored under k, storing create() first when
// there is none.
func (r *recent[K, V]) getOrCreate(k K, create func() V) V {
	s := r.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cur[k]; ok {
		return v
	}
	v, ok := s.prev[k]
	if ok {
		delete(s.prev, k)
	} else {
		v = create()
	}
	s.put(k, v)
	return v
}

// get returns the value stored under k.
func (r *recent[K, V]) get(k K) (V, bool) {
	s := r.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cur[k]; ok {
		return v, true
	}
	v, ok := s.prev[k]
	if ok {
		delete(s.prev, k)
		s.put(k, v)
	}
	return v, ok
}

// set stores v under k.
func (r *recent[K, V]) set(k K, v V) {
	s := r.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cur[k]; ok {
		s.cur[k] = v
		return
	}
	delete(s.prev, k)
	s.put(k, v)
}

// clear forgets everything.
func (r *recent[K, V]) clear() {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		s.cur, s.prev = make(map[K]V), make(map[K]V)
		s.mu.Unlock()
	}
}

// len returns the number of entries held.
func (r *recent[K, V]) len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.prev)
		s.mu.Unlock()
	}
	return n
}

func (s *recentShard[K, V]) put(k K, v V) {
	if len(s.cur) >= s.limit {
		// A fresh map rather than clear(): clear keeps the old bucket array,
		// and a map that once held a burst would keep its peak size forever.
		s.prev, s.cur = s.cur, make(map[K]V, s.limit)
	}
	s.cur[k] = v
}
