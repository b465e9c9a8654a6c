package spinlock

func pause()
