"""Local fakes of outside services (payment providers), served on loopback for tests."""
