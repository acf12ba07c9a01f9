package osism

// SetBeforeWait makes Submit run f after it published a task and before
// it waits for the broker's answer.
func SetBeforeWait(c *Client, f func()) { c.beforeWait = f }
