package relatedevents

// Eviction is a segmented LRU of whole objects. An object enters the
// probation segment; a lookup moves it to the protected one, which holds at
// most protectedShare of the budget (its least recently used objects are
// demoted beyond that). The budget evicts from probation first: objects
// that enrichments read outlive the many the cluster's other Events name
// (the controller's own Events on its Remediation records, for one), and
// within each segment the least recently used go first.

// protectedShare is the protected segment's share of MaxBytes, in quarters.
const protectedShare = 3

// segment is a circular doubly linked list of entries, the most recently
// used first, and the accounted bytes of its entries.
type segment struct {
	head  *entry
	bytes int
}

func (s *segment) last() *entry {
	if s.head == nil {
		return nil
	}
	return s.head.prev
}

func (s *segment) pushFront(e *entry) {
	if s.head == nil {
		e.prev, e.next = e, e
	} else {
		e.next, e.prev = s.head, s.head.prev
		s.head.prev.next = e
		s.head.prev = e
	}
	s.head, e.seg = e, s
	s.bytes += e.bytes
}

func (s *segment) remove(e *entry) {
	if e.next == e {
		s.head = nil
	} else {
		e.prev.next, e.next.prev = e.next, e.prev
		if s.head == e {
			s.head = e.next
		}
	}
	e.prev, e.next, e.seg = nil, nil, nil
	s.bytes -= e.bytes
}

// resize changes e's accounted bytes by delta, in its segment and in total.
func (x *Index) resize(e *entry, delta int) {
	e.bytes += delta
	x.bytes += delta
	if e.seg != nil {
		e.seg.bytes += delta
	}
}

// touch makes e the most recently used of its segment; a new object enters
// probation.
func (x *Index) touch(e *entry) {
	s := e.seg
	switch {
	case s == nil:
		s = &x.probation
	case s.head == e:
		return
	default:
		s.remove(e)
	}
	s.pushFront(e)
}

// promote moves e, just read by a lookup, to the front of the protected
// segment, demoting that segment's least recently used beyond its share.
func (x *Index) promote(e *entry) {
	if e.seg != nil {
		e.seg.remove(e)
	}
	x.protected.pushFront(e)
	for x.protected.bytes > x.opts.MaxBytes/4*protectedShare {
		t := x.protected.last()
		if t == e {
			break
		}
		x.protected.remove(t)
		x.probation.pushFront(t)
	}
}

// victim is the object to evict next, never keep: probation's least
// recently used, else protected's; nil if keep is all there is.
func (x *Index) victim(keep *entry) *entry {
	for _, s := range []*segment{&x.probation, &x.protected} {
		if t := s.last(); t != nil && t != keep {
			return t
		}
	}
	return nil
}
