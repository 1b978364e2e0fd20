package models

// GroupQueued returns how many calls of Group wait in the queue (0 on PostgreSQL).
func GroupQueued(d *DB) int {
	if d.group == nil {
		return 0
	}
	d.group.mu.Lock()
	defer d.group.mu.Unlock()
	return len(d.group.queue)
}

// GroupStats returns how many transactions Group ran and how many calls were in them (0, 0 on
// PostgreSQL).
func GroupStats(d *DB) (groups, calls int64) {
	if d.group == nil {
		return 0, 0
	}
	return d.group.groups.Load(), d.group.calls.Load()
}
