package pricing

import (
	"sync"
)

// estKey identifies a cached count. size guards against the (negligible) chance that
// two different byte strings share a 64-bit hash.
type estKey struct {
	hash uint64
	size int
	kind estKind
	base estBase
}

// estCache is a bounded LRU of counts.
type estCache struct {
	max int

	mu sync.Mutex
	// guards the following fields
	items map[estKey]*estNode
	root  estNode // sentinel of a ring: root.next is the most recently used
}

type estNode struct {
	key        estKey
	part       estPart
	prev, next *estNode
}

func newEstCache(max int) *estCache {
	c := &estCache{max: max, items: make(map[estKey]*estNode, min(max, 1024))}
	c.root.prev, c.root.next = &c.root, &c.root
	return c
}

// get returns a cached count and marks it recently used. A nil cache holds nothing.
func (c *estCache) get(k estKey) (estPart, bool) {
	if c == nil {
		return estPart{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.items[k]
	if !ok {
		return estPart{}, false
	}
	c.moveFront(n)
	return n.part, true
}

// put stores a count, evicting the least recently used one when full.
func (c *estCache) put(k estKey, p estPart) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.items[k]
	switch {
	case ok:
	case len(c.items) >= c.max:
		n = c.root.prev
		delete(c.items, n.key)
	default:
		n = &estNode{prev: &c.root, next: c.root.next}
		n.prev.next, n.next.prev = n, n
	}
	n.key, n.part = k, p
	c.items[k] = n
	c.moveFront(n)
}

// len reports the number of cached counts.
func (c *estCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}

func (c *estCache) moveFront(n *estNode) {
	n.prev.next, n.next.prev = n.next, n.prev
	n.prev, n.next = &c.root, c.root.next
	n.prev.next, n.next.prev = n, n
}
