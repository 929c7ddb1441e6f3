"""The sandbox: bubblewrap, cgroups and limits (isolation, cgroups), and the child that runs a submission inside it."""
