package httpapi

// The platform API: tenant lifecycle for the operator.

func (s *Server) platformRoutes() []Route { return nil }
