namespace qpu::effects {}
