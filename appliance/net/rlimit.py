"""The open-files limit: both the client and the daemons hold thousands of sockets."""
import resource


def raise_file_limit(needed):
    """Lift the soft open-files limit toward `needed`, as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
