"""From fetched ticks to stored rows: the buffer (memory or the durable spool), the batch
writer, the repository of its SQL, the binary COPY encoding, and how a writer hears others."""
