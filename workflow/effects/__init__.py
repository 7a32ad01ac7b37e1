"""The effects core (``core``), the deadline rows it plans (``rows``), and the shapes
it reads (``ports``). Pure: it imports no store, network or template code."""
