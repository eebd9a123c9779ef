package httpapi

// Invoices, expenses, payments, email and audit.

func (s *Server) invoiceRoutes() []Route { return nil }
func (s *Server) expenseRoutes() []Route { return nil }
func (s *Server) paymentRoutes() []Route { return nil }
func (s *Server) emailRoutes() []Route   { return nil }
func (s *Server) auditRoutes() []Route   { return nil }
