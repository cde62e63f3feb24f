namespace qpu::watch {}
