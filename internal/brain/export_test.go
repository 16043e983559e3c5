package brain

// WatchFrom starts a second watch from rev (tests of the compaction path:
// a watch behind a compaction must relist, and agents must resync without
// spurious deletes).
func (b *Brain) WatchFrom(rev int64) {
	b.wg.Add(1)
	go b.watch(rev)
}

// Relists counts full re-lists of etcd.
func (b *Brain) Relists() uint64 {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	return b.hub.relists
}
