namespace qpu {}
