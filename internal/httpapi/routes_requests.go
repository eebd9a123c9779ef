package httpapi

// Service requests, work orders, team, users and permissions.

func (s *Server) serviceRequestRoutes() []Route { return nil }
func (s *Server) workOrderRoutes() []Route      { return nil }
func (s *Server) teamRoutes() []Route           { return nil }
func (s *Server) userRoutes() []Route           { return nil }
