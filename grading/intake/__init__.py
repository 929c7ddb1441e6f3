"""Finding, unpacking and reading submissions: a folder or Canvas's download in, bounded copies and parsed notebooks out."""
