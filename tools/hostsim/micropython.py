"""Stand-in for the `micropython` module (host simulation only)."""


def const(value):
    return value


def native(f):
    return f


viper = native


def mem_info(verbose=None):
    print("mem_info is not measured on the host simulation")


def alloc_emergency_exception_buf(size):
    return None


def schedule(func, arg):
    func(arg)
