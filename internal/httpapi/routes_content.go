package httpapi

// Attachments, reminders, calendar, chat, settings singletons and posts.

func (s *Server) attachmentRoutes() []Route { return nil }
func (s *Server) reminderRoutes() []Route   { return nil }
func (s *Server) calendarRoutes() []Route   { return nil }
func (s *Server) chatRoutes() []Route       { return nil }
func (s *Server) settingsRoutes() []Route   { return nil }
func (s *Server) postRoutes() []Route       { return nil }
